# novadock_node_info(NETWORK_METADATA, UID) -> {'name', 'fqdn', 'address',
# 'user_node_name'} of the node whose uid is UID in Fuel's
# network_metadata hiera hash; 'address' is its management address. Fails,
# naming the uid, if the node or its address is missing.
module Puppet::Parser::Functions
  newfunction(:novadock_node_info, :type => :rvalue, :doc => <<-DOC
    This node's name, fqdn and management address from network_metadata.
  DOC
  ) do |args|
    unless args.length == 2 && args[0].is_a?(Hash)
      raise Puppet::ParseError,
            'novadock_node_info: want (network_metadata hash, uid)'
    end
    nodes = args[0]['nodes'] || {}
    uid = args[1].to_s
    key, node = nodes.find { |_, n| n.is_a?(Hash) && n['uid'].to_s == uid }
    if node.nil?
      raise Puppet::ParseError,
            "novadock: no node with uid #{uid} in network_metadata"
    end
    address = (node['network_roles'] || {})['management'].to_s
    if address.empty?
      raise Puppet::ParseError,
            "novadock: node #{key} (uid #{uid}) has no management address"
    end
    name = (node['name'] || key).to_s
    {
      'name' => name,
      'fqdn' => (node['fqdn'] || name).to_s,
      'address' => address,
      'user_node_name' => (node['user_node_name'] || name).to_s,
    }
  end
end
