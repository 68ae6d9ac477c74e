#!/usr/bin/env python3
"""A/B of FlowMesh builds with `flowmesh bench`, alternating builds round by round.

  scripts/abbench.py ROUNDS OUT.jsonl NAME=ROOT [NAME=ROOT...] [-- NODE FLAGS...]

Each ROOT is a source tree with bin/flowmesh-node and bin/flowmesh built (for
a baseline: `git archive main | tar -x -C /tmp/base`, then build there). Per
round and build: a fresh plaintext 3-node cluster (ROOT/scripts/cluster.sh up
--insecure, FLOWMESH_NO_BUILD=1, NODE FLAGS passed to every node), every
workload, then `down`. One JSON line per bench phase goes to OUT.jsonl (and
stdout): ops/s, p50/p99, the three nodes' CPU per op (utime+stime from
/proc over the bench), the bench client's CPU per op (rusage), and the nodes'
allocations per op (go_memstats_mallocs_total from /metrics) -- the last is
what stays comparable on a machine shared with other work.

Environment: WORKLOADS (default kv-put:64,stream-append-b1:64,queue:64; a
workload is NAME:CONCURRENCY, stream-append-b1 is stream-append --batch 1),
DUR (default 8s), BASE (base port, default 19600), CONNS (--connections).
CPU and allocations of a multi-phase workload (queue) cover all its phases.
"""
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import urllib.request


def main():
    args = sys.argv[1:]
    if len(args) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    rounds, out = int(args[0]), args[1]
    i = args.index('--') if '--' in args else len(args)
    builds = [a.split('=', 1) for a in args[2:i]]
    node_flags = args[i + 1:]
    workloads = os.environ.get('WORKLOADS', 'kv-put:64,stream-append-b1:64,queue:64').split(',')
    dur = os.environ.get('DUR', '8s')
    base = int(os.environ.get('BASE', '19600'))
    endpoints = ','.join(f'127.0.0.1:{base + 10 * k}' for k in range(3))

    def mallocs():
        n = 0.0
        for k in range(3):
            try:
                body = urllib.request.urlopen(f'http://127.0.0.1:{base + 10 * k + 3}/metrics', timeout=5).read().decode()
            except OSError:
                return None
            for line in body.splitlines():
                if line.startswith('go_memstats_mallocs_total '):
                    n += float(line.split()[1])
        return n

    def ticks(pid):
        with open(f'/proc/{pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return int(fields[11]) + int(fields[12])

    hz = os.sysconf('SC_CLK_TCK')
    with open(out, 'a') as res:
        for r in range(rounds):
            for name, root in builds:
                d = tempfile.mkdtemp(prefix='abbench-')
                env = dict(os.environ, FLOWMESH_NO_BUILD='1')
                subprocess.run([f'{root}/scripts/cluster.sh', 'up', '--insecure', '--dir', d, '--base-port', str(base), '--'] + node_flags,
                               env=env, check=True, stdout=subprocess.DEVNULL)
                try:
                    pids = [int(open(f'{d}/node{k}.pid').read()) for k in (1, 2, 3)]
                    for w in workloads:
                        wl, c = w.split(':')
                        cmd = [f'{root}/bin/flowmesh', '--endpoints', endpoints, 'bench']
                        cmd += ['stream-append', '--batch', '1'] if wl == 'stream-append-b1' else [wl]
                        cmd += ['-c', c, '-d', dur, '--no-progress', '-o', 'json']
                        if os.environ.get('CONNS'):
                            cmd += ['--connections', os.environ['CONNS']]
                        t0, m0 = [ticks(p) for p in pids], mallocs()
                        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                        p = subprocess.run(cmd, capture_output=True)
                        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                        t1, m1 = [ticks(p) for p in pids], mallocs()
                        try:
                            phases = json.loads(p.stdout)
                        except ValueError:
                            print(f'{name} {w}: bench failed: {p.stderr.decode()[-500:]}', file=sys.stderr)
                            continue
                        ops = sum(ph['ops'] for ph in phases) or 1
                        client_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
                        for ph in phases:
                            rec = dict(round=r, build=name, workload=wl, c=int(c), phase=ph['phase'], ops=ph['ops'],
                                       ops_s=round(ph['ops_per_sec']), p50_ms=ph['latency_ms']['p50'], p99_ms=ph['latency_ms']['p99'],
                                       node_us_op=round(sum(b - a for a, b in zip(t0, t1)) / hz * 1e6 / ops, 1),
                                       client_us_op=round(client_s * 1e6 / ops, 1))
                            if m0 is not None and m1 is not None:
                                rec['node_allocs_op'] = round((m1 - m0) / ops, 1)
                            line = json.dumps(rec)
                            res.write(line + '\n')
                            res.flush()
                            print(line, flush=True)
                finally:
                    subprocess.run([f'{root}/scripts/cluster.sh', 'down', '--dir', d], stdout=subprocess.DEVNULL)
                    shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    main()
