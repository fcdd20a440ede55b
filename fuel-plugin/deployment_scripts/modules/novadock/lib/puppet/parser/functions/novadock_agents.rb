# novadock_agents(NETWORK_METADATA, PATTERN, PORT) -> the controller's
# agents file: one "NAME=ADDRESS:PORT" line per compute node whose Fuel
# name (user_node_name, else name) matches PATTERN, sorted by name. NAME is
# the node's host name, which its agent uses as --node_name.
module Puppet::Parser::Functions
  newfunction(:novadock_agents, :type => :rvalue, :doc => <<-DOC
    The agents file of novadock-controller, from network_metadata.
  DOC
  ) do |args|
    unless args.length == 3 && args[0].is_a?(Hash)
      raise Puppet::ParseError,
            'novadock_agents: want (network_metadata hash, pattern, port)'
    end
    Puppet::Parser::Functions.function(:novadock_name_matches)
    nodes = args[0]['nodes'] || {}
    port = args[2].to_s
    lines = []
    nodes.keys.sort.each do |key|
      node = nodes[key]
      next unless node.is_a?(Hash)
      next unless (node['node_roles'] || []).include?('compute')
      label = (node['user_node_name'] || node['name'] || key).to_s
      next unless function_novadock_name_matches([label, args[1]])
      address = (node['network_roles'] || {})['management'].to_s
      next if address.empty?
      host = address.include?(':') ? "[#{address}]" : address
      lines << "#{node['name'] || key}=#{host}:#{port}"
    end
    lines.map { |l| l + "\n" }.join
  end
end
