#!/usr/bin/python3
"""Keystone contents of the loopback OpenStack, idempotent: the service
project, one user per service (admin and service roles there), and the
catalog (public, internal and admin endpoints on 127.0.0.1).

usage: keystone_setup.py KEYSTONE_PORT GLANCE_PORT PLACEMENT_PORT NOVA_PORT
                         NEUTRON_PORT    (password in $NOVADOCK_AIO_PASSWORD)
"""
import os
import sys

from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client

REGION = 'RegionOne'


def first(items):
    return items[0] if items else None


def main(argv):
    if len(argv) != 6:
        sys.exit(__doc__)
    keystone, glance, placement, nova, neutron = (int(p) for p in argv[1:])
    password = os.environ['NOVADOCK_AIO_PASSWORD']
    services = [  # name, type, url
        ('glance', 'image', 'http://127.0.0.1:%d' % glance),
        ('placement', 'placement', 'http://127.0.0.1:%d' % placement),
        ('nova', 'compute', 'http://127.0.0.1:%d/v2.1' % nova),
        ('neutron', 'network', 'http://127.0.0.1:%d' % neutron),
    ]
    auth = v3.Password(auth_url='http://127.0.0.1:%d/v3' % keystone,
                       username='admin', password=password,
                       project_name='admin', user_domain_id='default',
                       project_domain_id='default')
    ks = client.Client(session=session.Session(auth=auth))
    project = first(ks.projects.list(name='service', domain='default'))
    if project is None:
        project = ks.projects.create('service', 'default',
                                     description='OpenStack services')
    for role in ('member', 'reader', 'service'):
        if first(ks.roles.list(name=role)) is None:
            ks.roles.create(role)
    roles = [first(ks.roles.list(name=r)) for r in ('admin', 'service')]
    for name, _, _ in services:
        user = first(ks.users.list(name=name, domain='default'))
        if user is None:
            user = ks.users.create(name, domain='default', password=password,
                                   default_project=project)
        for role in roles:
            ks.roles.grant(role, user=user, project=project)
    for name, kind, url in services:
        service = first(ks.services.list(type=kind))
        if service is None:
            service = ks.services.create(name, type=kind)
        have = {e.interface: e for e in ks.endpoints.list(service=service)}
        for interface in ('public', 'internal', 'admin'):
            if interface not in have:
                ks.endpoints.create(service, url, interface=interface,
                                    region=REGION)
            elif have[interface].url != url:
                ks.endpoints.update(have[interface], url=url)
    print('keystone: service project, users and catalog are in place')


if __name__ == '__main__':
    main(sys.argv)
