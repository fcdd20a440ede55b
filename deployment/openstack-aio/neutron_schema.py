#!/usr/bin/python3
"""Creates Neutron's tables in a new sqlite database from Neutron's models
(as Neutron's own unit tests do): `neutron-db-manage upgrade heads` cannot
run on sqlite ("No support for ALTER of constraints in SQLite dialect").
aio.sh then runs `neutron-db-manage stamp heads`.

usage: neutron_schema.py sqlite:///PATH
"""
import sys

import sqlalchemy
from neutron.db.migration.models import head

if len(sys.argv) != 2 or not sys.argv[1].startswith('sqlite:///'):
    sys.exit(__doc__)
engine = sqlalchemy.create_engine(sys.argv[1])
with engine.connect() as conn:
    # More than one connection writes (API, RPC and periodic workers).
    conn.exec_driver_sql('PRAGMA journal_mode=WAL')
metadata = head.get_metadata()
metadata.create_all(engine)
print('neutron: %d tables' % len(metadata.tables))
