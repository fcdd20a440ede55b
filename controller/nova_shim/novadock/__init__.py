"""novadock: Nova compute driver that runs instances as Docker containers.

Installed as the package ``nova.virt.novadock`` (inside Nova's own
``nova/virt`` directory), because nova-compute (Zed) imports its driver as
``'nova.virt.' + compute_driver``. Enable it in nova.conf with::

    [DEFAULT]
    compute_driver = novadock.driver.NovaDockDriver

    [novadock]
    controller_address = 127.0.0.1:50050

Every driver call becomes one unary gRPC call on novadock-controller, made
through ``eventlet.tpool`` so that nova-compute's green threads keep running;
lifecycle events come from the controller's ``PollEvents`` long-poll.
"""
