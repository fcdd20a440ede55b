# novadock_container_formats(GLANCE_API_CONF, FORMAT) -> the value of
# [image_format] container_formats in GLANCE_API_CONF with FORMAT added if
# missing; the other formats and their order are kept. Without the file or
# the option: Glance's default list, which includes FORMAT.
# Runs where the catalog is compiled: on the node itself (puppet apply).
module Puppet::Parser::Functions
  newfunction(:novadock_container_formats, :type => :rvalue, :doc => <<-DOC
    Glance's container_formats with one format added.
  DOC
  ) do |args|
    unless args.length == 2
      raise Puppet::ParseError,
            'novadock_container_formats: want (glance-api.conf path, format)'
    end
    path = args[0].to_s
    format = args[1].to_s
    current = nil
    if File.file?(path)
      section = nil
      File.readlines(path).each do |line|
        line = line.strip
        next if line.empty? || line.start_with?('#', ';')
        if line =~ /\A\[(.+)\]\z/
          section = Regexp.last_match(1).strip
        elsif section == 'image_format' && line =~ /\Acontainer_formats\s*=\s*(.*)\z/
          current = Regexp.last_match(1)
        end
      end
    end
    formats = if current.nil?
                %w[ami ari aki bare ovf ova docker compressed]
              else
                current.split(',').map(&:strip).reject(&:empty?)
              end
    formats << format unless formats.include?(format)
    formats.join(',')
  end
end
