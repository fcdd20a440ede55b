"""ML2 mechanism driver of the loopback OpenStack: binds every port on
every host, vif_type 'other', with no agent and no dataplane. Nova gets real
Neutron ports (an address from the subnet), and novadock's containers keep
loopback networking; nothing sends traffic. Not for production.

neutron-server finds it through the entry point in the dist-info directory
beside this file (aio.sh puts this directory on neutron-server's
PYTHONPATH), so nothing is installed with pip.
"""
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api


class BindAllMechanismDriver(api.MechanismDriver):
    """Binds the first segment of every port it is asked about."""

    def initialize(self):
        pass

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], 'other',
                                {'port_filter': False},
                                status=constants.PORT_STATUS_ACTIVE)
            return
