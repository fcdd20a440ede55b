# Compiles a Puppet manifest into a catalog, as `puppet apply` would on a
# node, and prints it as JSON (resources with every parameter, templates
# rendered) without applying anything. Used by fuel_puppet_test.py.
#
#   ruby compile_catalog.rb MANIFEST MODULEPATH HIERA_CONFIG WORKDIR
require 'json'
require 'puppet'

manifest, modulepath, hiera_config, workdir = ARGV
unless workdir
  warn 'usage: compile_catalog.rb MANIFEST MODULEPATH HIERA_CONFIG WORKDIR'
  exit 2
end
Puppet.initialize_settings([
  '--modulepath', modulepath, '--hiera_config', hiera_config,
  '--vardir', File.join(workdir, 'var'), '--confdir', File.join(workdir, 'conf'),
  '--codedir', File.join(workdir, 'code'), '--logdir', File.join(workdir, 'log'),
  '--rundir', File.join(workdir, 'run')
])
Puppet[:code] = File.read(manifest)
node = Puppet::Node.new('novadock-test',
                        :facts => Puppet::Node::Facts.new('novadock-test', {}))
begin
  catalog = Puppet::Parser::Compiler.compile(node)
rescue Puppet::Error => e
  warn "Error: #{e.message}"
  exit 1
end
puts JSON.generate(catalog.to_data_hash)
