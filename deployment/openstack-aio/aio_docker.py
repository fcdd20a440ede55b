#!/usr/bin/python3
"""Docker side of the loopback OpenStack demo (aio.sh), over the Engine API
on a unix socket; nothing is pulled.

  aio_docker.py demo-image SOCK OUT.tar
      Builds the demo image offline (busybox-static as its root file system,
      a command that prints a banner, then a tick every 2 s, and exits on
      SIGTERM), writes it as a docker-save archive to OUT.tar and removes it
      from Docker again: the node loads it when Nova first boots it.
  aio_docker.py purge SOCK NODE IMAGE_DIR
      Force-removes the instance containers of node NODE (label
      io.novadock.node) and the images tagged novadock/glance:<id> for each
      <id>.tar in IMAGE_DIR: what the demo's node left in that dockerd.
"""
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests", "py"))
import novadock_testlib as lib  # noqa: E402

DEMO_REPO, DEMO_TAG = "novadock-aio-demo", "busybox"
BANNER = "novadock demo instance is up"
DEMO_CMD = ["sh", "-c",
            "trap 'echo stopping; exit 0' TERM; echo '%s'; i=0; "
            "while true; do i=$((i+1)); echo tick $i; sleep 2 & wait $!; "
            "done" % BANNER]


def demo_image(sock, out):
    api = "/v" + lib.docker_api_version(sock)
    ref = "%s:%s" % (DEMO_REPO, DEMO_TAG)
    query = urllib.parse.urlencode([
        ("fromSrc", "-"), ("repo", DEMO_REPO), ("tag", DEMO_TAG),
        ("changes", "CMD " + json.dumps(DEMO_CMD))])
    status, data = lib.docker_request(
        sock, "POST", "%s/images/create?%s" % (api, query),
        body=lib.busybox_rootfs_tar(),
        headers={"Content-Type": "application/x-tar"}, timeout=120)
    if status != 200 or b'"error' in data:
        sys.exit("demo image import: HTTP %d: %r" % (status, data[:300]))
    status, archive = lib.docker_request(
        sock, "GET", "%s/images/%s/get" % (api, ref), timeout=120)
    if status != 200:
        sys.exit("docker save %s: HTTP %d" % (ref, status))
    tmp = out + ".part"
    with open(tmp, "wb") as f:
        f.write(archive)
    os.rename(tmp, out)
    lib.docker_request(sock, "DELETE", "%s/images/%s?force=1" % (api, ref))
    print("demo image %s: %d bytes in %s" % (ref, len(archive), out))


def purge(sock, node, image_dir):
    api = "/v" + lib.docker_api_version(sock)
    filters = urllib.parse.quote(json.dumps(
        {"label": ["io.novadock.node=" + node]}))
    status, data = lib.docker_request(
        sock, "GET", "%s/containers/json?all=1&filters=%s" % (api, filters))
    if status != 200:
        sys.exit("list containers: HTTP %d" % status)
    for c in json.loads(data):
        lib.docker_request(sock, "DELETE",
                           "%s/containers/%s?force=1&v=1" % (api, c["Id"]),
                           timeout=60)
        print("removed container %s" % c["Names"][0].lstrip("/"))
    ids = []
    if os.path.isdir(image_dir):
        ids = [n[:-4] for n in os.listdir(image_dir) if n.endswith(".tar")]
    for glance_id in ids:
        status, _ = lib.docker_request(
            sock, "DELETE", "%s/images/novadock/glance:%s?force=1" %
            (api, glance_id), timeout=60)
        if status == 200:
            print("removed image novadock/glance:%s" % glance_id)


def main(argv):
    if len(argv) == 4 and argv[1] == "demo-image":
        demo_image(argv[2], argv[3])
    elif len(argv) == 5 and argv[1] == "purge":
        purge(argv[2], argv[3], argv[4])
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
