# novadock_name_matches(NAME, PATTERN) -> true if the regular expression
# PATTERN (the plugin's node_pattern setting; empty or undef: "docker")
# matches anywhere in NAME. A bad PATTERN fails the run, naming it.
# Legacy (3.x) function API: Fuel 9 runs Puppet 3; Puppet 7 still loads it.
module Puppet::Parser::Functions
  newfunction(:novadock_name_matches, :type => :rvalue, :doc => <<-DOC
    Whether the novadock node-name pattern matches a node's name.
  DOC
  ) do |args|
    unless args.length == 2
      raise Puppet::ParseError,
            "novadock_name_matches: want (name, pattern), got #{args.length} arguments"
    end
    name = args[0].to_s
    pattern = args[1]
    pattern = 'docker' if pattern.nil? || pattern == :undef || pattern.to_s.empty?
    begin
      regexp = Regexp.new(pattern.to_s)
    rescue RegexpError => e
      raise Puppet::ParseError,
            "novadock: node_pattern '#{pattern}' is not a regular expression: #{e.message}"
    end
    !name.empty? && !regexp.match(name).nil?
  end
end
