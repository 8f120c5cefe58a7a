# A stand-in for Foreman's template renderer, kept to what onn's templates use
# (kickstart/foreman/*.erb): the host's attributes, host_param, host_param_true?, root_pass,
# foreman_url, indent, and the `built` snippet. Renders with Ruby's own ERB, as Foreman does
# (its "safemode" renderer runs the same ERB with these helpers allowed).
#
#   ruby foreman_render.rb TEMPLATE PARAMS.json
#
# PARAMS.json: {"host": {"name": …}, "params": {…}, "foreman": "http://…", "ptable": PATH}.
# Prints the rendered text; a template that raises exits 1 with its message.

require 'erb'
require 'json'

class StandInHost
  attr_reader :name

  def initialize(name, disk_layout)
    @name = name
    @disk_layout = disk_layout
  end

  def to_s
    @name
  end

  def diskLayout # rubocop:disable Naming/MethodName - Foreman's name
    @disk_layout
  end
end

class StandInRenderer
  def initialize(config)
    @params = config.fetch('params')
    @foreman = config.fetch('foreman')
    @template_name = config.fetch('template_name')
    layout = config['ptable'] ? render(File.read(config['ptable'])) : ''
    @host = StandInHost.new(config.fetch('host').fetch('name'), layout)
  end

  def render(text)
    ERB.new(text, trim_mode: '-').result(binding)
  end

  def host_param(name)
    @params[name]
  end

  def host_param_true?(name)
    %w[true yes 1].include?(@params[name].to_s.downcase)
  end

  def root_pass
    '$6$stand-in$hash'
  end

  # Foreman's URL of an unattended action for this host (`built`, `failed`, `provision`).
  def foreman_url(action)
    "#{@foreman}/unattended/#{action}"
  end

  def indent(count)
    yield.to_s.gsub(/^(?=.)/, ' ' * count)
  end

  # Foreman's `built` snippet posts a file to an unattended action; this stand-in says the
  # same in one curl call (the installer's curl, in %onerror and %post --nochroot).
  def snippet(name, variables: {})
    raise "the stand-in renders only the built snippet, not #{name}" unless name == 'built'

    url = foreman_url(variables.fetch(:endpoint))
    "curl --silent --show-error -o /dev/null -X #{variables.fetch(:method)} " \
      "-H 'Content-Type: text/plain' --data-binary @#{variables.fetch(:body_file)} '#{url}'\n"
  end
end

template, config = ARGV
begin
  print StandInRenderer.new(JSON.parse(File.read(config))).render(File.read(template))
rescue StandardError => e
  warn "rendering #{template} failed: #{e.message}"
  exit 1
end
