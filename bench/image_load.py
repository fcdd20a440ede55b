#!/usr/bin/python3
"""Image load benchmark: novadock-glance-loader vs `docker load` vs docker-py.

In one run, on one private dockerd, it builds a large docker-save archive
offline (busybox-static plus incompressible random bytes), then loads it
through each path in alternating order over R rounds, removing the image
between loads (untimed), and measures the loader's peak RSS on a small and
a large archive. See bench/README.md.

  /usr/bin/python3 bench/image_load.py \
      --loader-binary BUILD/glance-loader/novadock-glance-loader
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests", "py"))

import novadock_testlib as testlib  # noqa: E402

MIB = 1 << 20
REPO = "novadock-bench"
PATHS = ("loader", "docker-load", "docker-py")  # docker-load: the baseline.
BASELINE = "docker-load"
CHUNK = 4 * MIB
CALL_TIMEOUT_S = 900
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGET_THROUGHPUT_RATIO = 0.95
TARGET_RSS_GROWTH_MIB = 32


# --------------------------------------------------------------------------
# /proc readings


def cpu_seconds(pid):
    """utime+stime of `pid` in seconds (0 if gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (OSError, TypeError):
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kb(pid, key):
    """A kB value from /proc/PID/status (VmRSS, VmHWM), 0 if unknown."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def settle(pids, max_wait=10.0, window=0.5, busy_fraction=0.05):
    """Waits (bounded) until `pids` together use < busy_fraction of a core
    over `window`."""
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        before = sum(cpu_seconds(p) for p in pids if p)
        time.sleep(window)
        if sum(cpu_seconds(p) for p in pids if p) - before < \
                busy_fraction * window:
            return


def containerd_pid(dockerd):
    try:
        with open(os.path.join(dockerd.dir, "exec", "containerd",
                               "containerd.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


# --------------------------------------------------------------------------
# Child processes: timed with wall clock, measured with wait4's rusage.

_children = set()  # Running Popen objects, killed on the way out.


GNU_TIME = "/usr/bin/time"  # Debian package `time`.


class ChildResult:
    def __init__(self, argv, rc, wall, rusage, maxrss_kb, sampled_hwm_kb,
                 out, err):
        self.argv, self.rc, self.wall = argv, rc, wall
        self.maxrss_kb = maxrss_kb
        self.cpu_s = rusage.ru_utime + rusage.ru_stime
        self.sampled_hwm_kb = sampled_hwm_kb
        self.out, self.err = out, err

    def check(self):
        if self.rc != 0:
            raise RuntimeError("%s: exit %s\nstdout: %s\nstderr: %s" % (
                " ".join(self.argv), self.rc, self.out[-2000:],
                self.err[-2000:]))
        return self


def _child_of(pid):
    """The first child of `pid` (/proc/PID/task/PID/children), or 0."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = f.read().split()
        return int(kids[0]) if kids else 0
    except (OSError, ValueError):
        return 0


def run_child(argv, work, env=None):
    """Runs argv to completion under GNU time, in its own process group,
    with stdout/stderr to files in `work`. Returns a ChildResult: wall time
    from fork to reap, CPU time from wait4, and peak RSS.

    Peak RSS is GNU time's %M: the ru_maxrss of its child. wait4's
    ru_maxrss for a child of this script would be useless: a process's
    maxrss starts at the hiwater mark of the address space it exec'd from,
    i.e. this Python's RSS (fork and vfork alike); GNU time's own address
    space is ~1 MB. Also sampled: the command's VmHWM every 10 ms."""
    out_path = os.path.join(work, "child.out")
    err_path = os.path.join(work, "child.err")
    rss_path = os.path.join(work, "child.maxrss")
    if os.path.exists(rss_path):
        os.unlink(rss_path)
    full = [GNU_TIME, "-q", "-f", "%M", "-o", rss_path] + list(argv)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, close_fds=True, env=env,
                                start_new_session=True)
    _children.add(proc)
    hwm = [0]
    done = threading.Event()

    def sampler():
        target = 0
        while not done.is_set():
            target = target or _child_of(proc.pid)
            if target:
                hwm[0] = max(hwm[0], status_kb(target, "VmHWM"))
            done.wait(0.01)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    try:
        _, status, rusage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        done.set()
        thread.join()
        _children.discard(proc)
    with open(out_path, "rb") as f:
        out_text = f.read().decode("utf-8", "replace")
    with open(err_path, "rb") as f:
        err_text = f.read().decode("utf-8", "replace")
    maxrss_kb = 0
    try:
        with open(rss_path) as f:
            maxrss_kb = int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        pass
    return ChildResult(argv, proc.returncode, wall, rusage, maxrss_kb,
                       hwm[0], out_text, err_text)


def kill_children():
    """SIGKILLs the process group of each running child (GNU time and the
    command under it)."""
    for proc in list(_children):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        _children.discard(proc)


# --------------------------------------------------------------------------
# The archives


class RandomReader:
    """A file-like object of `size` random bytes (os.urandom, in chunks)."""

    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        if n is None or n < 0:
            n = self.left
        n = min(n, self.left, CHUNK)
        self.left -= n
        return os.urandom(n) if n else b""


def write_rootfs_tar(path, random_bytes):
    """A rootfs tar at `path`: /bin/busybox (+ applet symlinks) and
    /data/random.bin of `random_bytes` incompressible bytes."""
    with tarfile.open(path, mode="w", bufsize=CHUNK) as tar:
        for d in ("bin", "tmp", "etc", "proc", "sys", "dev", "data"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(testlib.BUSYBOX_PATH, arcname="bin/busybox")
        for applet in testlib.BUSYBOX_APPLETS:
            info = tarfile.TarInfo("bin/" + applet)
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            info.mode = 0o777
            tar.addfile(info)
        info = tarfile.TarInfo("data/random.bin")
        info.size = random_bytes
        info.mode = 0o644
        info.mtime = int(time.time())
        tar.addfile(info, RandomReader(random_bytes))


def check_json_stream(what, data):
    for line in data.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("error") or msg.get("errorDetail"):
            raise RuntimeError("%s: %s" % (what, msg))


def make_archive(d, work, tag, random_mib):
    """Imports a rootfs with `random_mib` MiB of random bytes as REPO:tag,
    saves it (streamed) to work/<tag>.tar, removes the image. Returns
    (path, size in bytes, image id)."""
    ref = "%s:%s" % (REPO, tag)
    rootfs = os.path.join(work, "rootfs-%s.tar" % tag)
    write_rootfs_tar(rootfs, random_mib * MIB)
    conn = testlib.UnixHTTPConnection(d.sock, timeout=CALL_TIMEOUT_S)
    conn.blocksize = CHUNK
    try:
        with open(rootfs, "rb") as body:
            conn.request("POST", "%s/images/create?fromSrc=-&repo=%s&tag=%s" %
                         (d.api, REPO, tag), body=body, headers={
                             "Content-Type": "application/x-tar",
                             "Content-Length": str(os.path.getsize(rootfs))})
            resp = conn.getresponse()
            data = resp.read()
        if resp.status != 200:
            raise RuntimeError("import %s: HTTP %d %r" % (ref, resp.status,
                                                          data[:300]))
        check_json_stream("import " + ref, data)
    finally:
        conn.close()
    os.unlink(rootfs)
    image_id = image_id_of(d, ref)
    if not image_id:
        raise RuntimeError("import %s: image missing afterwards" % ref)

    path = os.path.join(work, "%s.tar" % tag)
    conn = testlib.UnixHTTPConnection(d.sock, timeout=CALL_TIMEOUT_S)
    try:
        conn.request("GET", "%s/images/%s/get" % (d.api, ref))
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError("save %s: HTTP %d %r" % (ref, resp.status,
                                                        resp.read(300)))
        with open(path, "wb") as f:
            while True:
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                f.write(chunk)
    finally:
        conn.close()
    remove_image(d, image_id)
    return path, os.path.getsize(path), image_id


# --------------------------------------------------------------------------
# Docker state between loads


def image_id_of(d, ref):
    status, data = testlib.docker_request(
        d.sock, "GET", "%s/images/%s/json" % (d.api, ref), timeout=60)
    return json.loads(data)["Id"] if status == 200 else None


def remove_image(d, image_id):
    """Force-removes `image_id` by each of its tags, then by id."""
    status, data = testlib.docker_request(
        d.sock, "GET", "%s/images/%s/json" % (d.api, image_id), timeout=60)
    if status == 404:
        return
    tags = (json.loads(data).get("RepoTags") or []) if status == 200 else []
    for ref in tags + [image_id]:
        st, body = testlib.docker_request(
            d.sock, "DELETE", "%s/images/%s?force=1" % (d.api, ref),
            timeout=CALL_TIMEOUT_S)
        if st not in (200, 404):
            raise RuntimeError("remove %s: HTTP %d %r" % (ref, st, body[:200]))
    if image_id_of(d, image_id):
        raise RuntimeError("image %s still present after removal" % image_id)


def image_count(d):
    status, data = testlib.docker_request(d.sock, "GET",
                                          d.api + "/images/json?all=1")
    if status != 200:
        raise RuntimeError("list images: HTTP %d" % status)
    return len(json.loads(data))


def quiesce(d, pids):
    """Untimed: flush dirty pages (the previous load wrote the layer) and
    wait until dockerd and containerd are idle."""
    os.sync()
    settle(pids)


# --------------------------------------------------------------------------
# The three ways to load an archive. Each returns a dict with at least
# "seconds"; the CLIs also report their own CPU time and peak RSS.


class LoaderPath:
    name = "loader"

    def __init__(self, env):
        self.env = env

    def argv(self, *command):
        return [self.env.loader, "--image_dir=" + self.env.image_dir,
                "--docker_host=" + self.env.d.host] + list(command)

    def load(self, archive):
        r = run_child(self.argv("load", archive), self.env.work).check()
        return {"seconds": r.wall, "cpu_s": r.cpu_s,
                "maxrss_kb": r.maxrss_kb, "sampled_hwm_kb": r.sampled_hwm_kb}


class DockerCliPath:
    name = "docker-load"

    def __init__(self, env):
        self.env = env
        self.environ = dict(os.environ)
        self.environ.update({
            "DOCKER_HOST": env.d.host,
            "DOCKER_API_VERSION": env.d.api.lstrip("/v"),
            "DOCKER_CONFIG": os.path.join(env.work, "docker-config"),
        })
        os.makedirs(self.environ["DOCKER_CONFIG"], exist_ok=True)

    def load(self, archive):
        r = run_child([self.env.docker_cli, "load", "-i", archive],
                      self.env.work, env=self.environ).check()
        return {"seconds": r.wall, "cpu_s": r.cpu_s, "maxrss_kb": r.maxrss_kb}


class DockerPyPath:
    name = "docker-py"

    def __init__(self, env):
        import docker  # python3-docker
        self.client = docker.DockerClient(base_url=env.d.host,
                                          version=env.d.api.lstrip("/v"),
                                          timeout=CALL_TIMEOUT_S)

    def load(self, archive):
        t0 = time.perf_counter()
        with open(archive, "rb") as f:  # Streamed by requests, not read().
            images = self.client.images.load(f)
        dt = time.perf_counter() - t0
        if not images:
            raise RuntimeError("docker-py: nothing loaded from %s" % archive)
        return {"seconds": dt}


def hash_seconds(path, algo):
    """Seconds to hash `path` (in the page cache) with hashlib (OpenSSL,
    like the loader), for splitting the verification pass."""
    h = hashlib.new(algo)
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    h.hexdigest()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------


def run_loads(env, paths, archive, size, expect_id, rounds, pids):
    """Loads `archive` through every path, `rounds` times, path order
    reversed every other round. Returns {path: [sample dicts]}."""
    samples = {p: [] for p in PATHS}
    for rnd in range(rounds):
        order = PATHS if rnd % 2 == 0 else tuple(reversed(PATHS))
        for p in order:
            quiesce(env.d, pids)
            d0 = cpu_seconds(pids[0])
            s = paths[p].load(archive)
            s["dockerd_cpu_s"] = cpu_seconds(pids[0]) - d0
            s["mib_per_s"] = size / MIB / s["seconds"]
            s["round"] = rnd
            samples[p].append(s)
            got = image_id_of(env.d, expect_id)
            if got != expect_id:
                raise RuntimeError("%s: image %s not loaded (got %s)" %
                                   (p, expect_id, got))
            remove_image(env.d, expect_id)
            print("  %-8s round %d %-12s %7.2f s %7.1f MiB/s" % (
                os.path.basename(archive), rnd + 1, p, s["seconds"],
                s["mib_per_s"]), file=sys.stderr, flush=True)
    return samples


def summarize(samples, size):
    out = []
    for p in PATHS:
        secs = [s["seconds"] for s in samples[p]]
        row = {"path": p, "rounds": len(secs),
               "median_s": statistics.median(secs),
               "min_s": min(secs), "max_s": max(secs),
               "median_mib_per_s": size / MIB / statistics.median(secs),
               "samples": samples[p]}
        cpu = [s["cpu_s"] for s in samples[p] if "cpu_s" in s]
        if cpu:
            row["median_client_cpu_s"] = statistics.median(cpu)
        row["median_dockerd_cpu_s"] = statistics.median(
            s["dockerd_cpu_s"] for s in samples[p])
        rss = [s["maxrss_kb"] for s in samples[p] if "maxrss_kb" in s]
        if rss:
            row["max_maxrss_kb"] = max(rss)
        out.append(row)
    base = next(r for r in out if r["path"] == BASELINE)
    for r in out:
        r["throughput_ratio_to_docker_load"] = (r["median_mib_per_s"] /
                                                base["median_mib_per_s"])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loader-binary",
                        default=os.environ.get("NOVADOCK_GLANCE_LOADER"),
                        required=not os.environ.get("NOVADOCK_GLANCE_LOADER"))
    parser.add_argument("--docker-cli", default=shutil.which("docker"),
                        help="docker client binary (default: docker on PATH)")
    parser.add_argument("--size-mb", type=int, default=300,
                        help="MiB of random bytes in the large image "
                        "(default 300)")
    parser.add_argument("--small-mb", type=int, default=50,
                        help="MiB of random bytes in the small image "
                        "(default 50)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="loads per path and archive (default 3), path "
                        "order reversed every other round")
    parser.add_argument("--tmp-dir", default=None,
                        help="where the archives go (default: $TMPDIR, /tmp)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.rounds < 1 or args.size_mb < 1 or args.small_mb < 1:
        parser.error("--rounds, --size-mb and --small-mb must be >= 1")
    if not args.docker_cli:
        parser.error("no docker CLI on PATH; pass --docker-cli")
    if not os.access(GNU_TIME, os.X_OK):
        parser.error("%s (Debian package `time`) is needed for peak RSS" %
                     GNU_TIME)
    loader = os.path.abspath(args.loader_binary)

    # Ctrl-C, SIGTERM and SIGHUP all clean up (SIGINT explicitly: it may
    # have been inherited as ignored, e.g. from a shell's background job).
    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)

    run_start = time.monotonic()
    run_date = datetime.datetime.now().astimezone().isoformat(
        timespec="seconds")
    work = tempfile.mkdtemp(prefix="novadock-bench-load.", dir=args.tmp_dir)
    try:
        with testlib.PrivateDockerd() as d:
            return run(args, loader, work, d, run_start, run_date)
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        return 130
    finally:
        kill_children()
        shutil.rmtree(work, ignore_errors=True)


def run(args, loader, work, d, run_start, run_date):
    env = type("Env", (), {})()
    env.d, env.work, env.loader, env.docker_cli = d, work, loader, \
        args.docker_cli
    env.image_dir = os.path.join(work, "images")  # Empty.
    os.makedirs(env.image_dir)
    _, version = testlib.docker_request(d.sock, "GET", d.api + "/version")
    docker_version = json.loads(version).get("Version", "?")
    cli_version = subprocess.run(
        [args.docker_cli, "--version"], capture_output=True,
        text=True).stdout.strip()
    pids = [d.pid(), containerd_pid(d)]
    images_before = image_count(d)

    print("building archives (%d and %d MiB of random bytes)..." %
          (args.small_mb, args.size_mb), file=sys.stderr, flush=True)
    t0 = time.monotonic()
    archives = {}
    for name, mib in (("small", args.small_mb), ("big", args.size_mb)):
        archives[name] = make_archive(d, work, name, mib)
    build_s = time.monotonic() - t0

    paths = {p.name: p for p in (LoaderPath(env), DockerCliPath(env),
                                 DockerPyPath(env))}

    # The loader doing nothing with archives: its baseline RSS.
    baseline = [run_child(paths["loader"].argv("list"), work).check()
                for _ in range(3)]
    baseline_kb = max(r.maxrss_kb for r in baseline)

    # The verification pass alone (what `load` does before streaming).
    verify = {}
    for name in ("small", "big"):
        runs = [run_child(paths["loader"].argv("verify", archives[name][0]),
                          work).check() for _ in range(args.rounds)]
        verify[name] = {
            "median_s": statistics.median(r.wall for r in runs),
            "median_cpu_s": statistics.median(r.cpu_s for r in runs),
            "max_maxrss_kb": max(r.maxrss_kb for r in runs)}
        # What the pass is made of: the loader hashes sha256 and md5 in it
        # (and sha256 again while streaming).
        for algo in ("sha256", "md5"):
            verify[name][algo + "_only_s"] = statistics.median(
                hash_seconds(archives[name][0], algo)
                for _ in range(args.rounds))

    results = {}
    for name in ("small", "big"):  # The small one warms dockerd up, too.
        path, size, image_id = archives[name]
        samples = run_loads(env, paths, path, size, image_id, args.rounds,
                            pids)
        results[name] = {"archive_bytes": size,
                         "random_mib": args.small_mb if name == "small"
                         else args.size_mb,
                         "results": summarize(samples, size)}
        results[name]["verify"] = verify[name]
    if image_count(d) != images_before:
        raise RuntimeError("images left behind: %d, want %d" %
                           (image_count(d), images_before))

    loader_rss = {"baseline_list_kb": baseline_kb}
    for name in ("small", "big"):
        row = next(r for r in results[name]["results"]
                   if r["path"] == "loader")
        loader_rss[name + "_peak_kb"] = row["max_maxrss_kb"]
        loader_rss[name + "_sampled_hwm_kb"] = max(
            s["sampled_hwm_kb"] for s in row["samples"])
        loader_rss[name + "_growth_kb"] = row["max_maxrss_kb"] - baseline_kb
        loader_rss[name + "_verify_peak_kb"] = verify[name]["max_maxrss_kb"]

    summary = {
        "date": run_date,
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(),
                 "docker_version": docker_version,
                 "docker_api": d.api.lstrip("/v"),
                 "docker_cli": cli_version},
        "rounds": args.rounds,
        "archives": results,
        "loader_rss": loader_rss,
        "build_archives_s": build_s,
        "run_seconds": time.monotonic() - run_start,
    }
    summary["targets"] = targets(summary)
    print_report(summary)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
    return 0


def targets(s):
    out = []
    for name in ("small", "big"):
        row = next(r for r in s["archives"][name]["results"]
                   if r["path"] == "loader")
        ratio = row["throughput_ratio_to_docker_load"]
        out.append({"target": "loader >= %.2fx docker load throughput, %s "
                    "archive (verification on)" % (TARGET_THROUGHPUT_RATIO,
                                                   name),
                    "value": "%.2fx" % ratio,
                    "met": ratio >= TARGET_THROUGHPUT_RATIO})
    rss = s["loader_rss"]
    for name in ("small", "big"):
        growth = rss[name + "_growth_kb"] / 1024
        out.append({"target": "loader peak RSS growth < %d MiB, %s archive" %
                    (TARGET_RSS_GROWTH_MIB, name),
                    "value": "%.1f MiB" % growth,
                    "met": growth < TARGET_RSS_GROWTH_MIB})
    return out


def print_report(s):
    h = s["host"]
    print("\nnovadock image load benchmark %s: %d cpus, kernel %s, dockerd %s "
          "(API %s), %s" % (s["date"], h["cpus"], h["kernel"],
                            h["docker_version"], h["docker_api"],
                            h["docker_cli"]))
    for name in ("small", "big"):
        a = s["archives"][name]
        print("\n%s archive: %.1f MiB (%d MiB random), %d round(s)" % (
            name, a["archive_bytes"] / MIB, a["random_mib"], s["rounds"]))
        print("%-12s %6s %9s %9s %9s %10s %9s %9s" % (
            "path", "rounds", "median s", "min s", "max s", "MiB/s",
            "vs docker", "dockerd s"))
        for r in a["results"]:
            print("%-12s %6d %9.2f %9.2f %9.2f %10.1f %9.2f %9.2f" % (
                r["path"], r["rounds"], r["median_s"], r["min_s"], r["max_s"],
                r["median_mib_per_s"], r["throughput_ratio_to_docker_load"],
                r["median_dockerd_cpu_s"]))
        v = a["verify"]
        print("%-12s %6d %9.2f %9s %9s %10.1f   (`verify FILE` alone, "
              "CPU %.2f s)" % ("verify-only", s["rounds"], v["median_s"], "",
                               "", a["archive_bytes"] / MIB / v["median_s"],
                               v["median_cpu_s"]))
        print("  hash only (hashlib/OpenSSL, one pass, cached): "
              "sha256 %.2f s, md5 %.2f s" % (v["sha256_only_s"],
                                             v["md5_only_s"]))
        by = {r["path"]: r for r in a["results"]}
        print("  loader minus verification pass: %.2f s (docker load %.2f s)"
              % (by["loader"]["median_s"] - v["median_s"],
                 by[BASELINE]["median_s"]))
        for r in a["results"]:
            if "median_client_cpu_s" in r:
                print("  %s client CPU: median %.2f s" % (
                    r["path"], r["median_client_cpu_s"]))
    rss = s["loader_rss"]
    print("\nloader peak RSS (ru_maxrss via GNU time): `list` %.1f MiB; load "
          "small %.1f MiB (+%.1f), load big %.1f MiB (+%.1f); verify small "
          "%.1f, big %.1f MiB; VmHWM sampled every 10 ms: load small %.1f, "
          "big %.1f MiB" % (
              rss["baseline_list_kb"] / 1024, rss["small_peak_kb"] / 1024,
              rss["small_growth_kb"] / 1024, rss["big_peak_kb"] / 1024,
              rss["big_growth_kb"] / 1024, rss["small_verify_peak_kb"] / 1024,
              rss["big_verify_peak_kb"] / 1024,
              rss["small_sampled_hwm_kb"] / 1024,
              rss["big_sampled_hwm_kb"] / 1024))
    print("\ntargets:")
    for t in s["targets"]:
        print("  [%s] %s: %s" % ("met" if t["met"] else "MISSED", t["target"],
                                 t["value"]))
    print("archives built in %.0f s; run took %.0f s" % (
        s["build_archives_s"], s["run_seconds"]))


if __name__ == "__main__":
    sys.exit(main())
