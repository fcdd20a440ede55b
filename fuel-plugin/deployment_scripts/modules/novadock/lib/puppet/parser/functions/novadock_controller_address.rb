# novadock_controller_address(NETWORK_METADATA, PORT) -> "ADDRESS:PORT" of
# the novadock controller nova-compute talks to: the management address of
# the primary controller (else the first controller by name). Fails if the
# environment has no controller.
module Puppet::Parser::Functions
  newfunction(:novadock_controller_address, :type => :rvalue, :doc => <<-DOC
    Where nova-compute reaches novadock-controller.
  DOC
  ) do |args|
    unless args.length == 2 && args[0].is_a?(Hash)
      raise Puppet::ParseError,
            'novadock_controller_address: want (network_metadata hash, port)'
    end
    nodes = args[0]['nodes'] || {}
    pick = lambda do |role|
      nodes.keys.sort.find do |k|
        n = nodes[k]
        n.is_a?(Hash) && (n['node_roles'] || []).include?(role) &&
          !(n['network_roles'] || {})['management'].to_s.empty?
      end
    end
    key = pick.call('primary-controller') || pick.call('controller')
    if key.nil?
      raise Puppet::ParseError,
            'novadock: network_metadata has no controller with a management address'
    end
    address = nodes[key]['network_roles']['management'].to_s
    address = "[#{address}]" if address.include?(':')
    "#{address}:#{args[1]}"
  end
end
