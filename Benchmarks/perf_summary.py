#!/usr/bin/env python3
"""Summarizes a `perf record -g` profile of Herald: where CPU goes, by layer.

    perf script -i herald-perf.data -F comm,ip,sym > script.txt
    python3 Benchmarks/perf_summary.py script.txt [--us-per-delivery 5.3]

Prints (1) self time by symbol (Swift names demangled), (2) who calls swift_retain/release and
malloc/free (the first caller outside the runtime), (3) inclusive share of named layers, from
the event loop's socket writes to Swift concurrency's task wake-ups, and (4) samples by thread.
With --us-per-delivery (the run's server CPU per delivery) shares are also shown in µs.
"""
import argparse
import collections
import shutil
import subprocess
import sys

RUNTIME = ("swift_retain", "swift_release", "swift_bridgeObjectRetain", "swift_bridgeObjectRelease",
           "_swift_release_dealloc", "swift_allocObject", "swift_deallocObject", "swift_slowAlloc", "swift_slowDealloc",
           "malloc", "free", "_int_malloc", "_int_free", "cfree", "__libc_malloc", "__libc_free", "_int_free_merge_chunk",
           "swift_retain_n", "swift_release_n", "@plt", "swift_unknownObjectRetain", "swift_unknownObjectRelease",
           "swift_beginAccess", "swift_endAccess", "malloc_consolidate", "_int_free_create_chunk", "tcache_",
           "swift_isUniquelyReferenced", "swift_deallocClassInstance", "swift_arrayDestroy", "swift_arrayInitWithCopy",
           "$ss", "$sS", "swift_dynamicCast", "swift_conformsTo", "swift_getGenericMetadata", "swift_checkMetadataState")

# (label, substrings of mangled or plain names; a sample counts when any frame contains one)
LAYERS = [
    ("kernel: socket writes (writev/sendmsg, incl. loopback delivery)", ["do_writev", "__sys_sendmsg", "tcp_sendmsg"]),
    ("kernel: socket reads", ["tcp_recvmsg", "__sys_recvfrom", "ksys_read"]),
    ("kernel: epoll / futex / scheduling", ["do_epoll_wait", "futex_", "schedule", "finish_task_switch"]),
    ("NIO flush (socket writes + bookkeeping)", ["BaseSocketChannelC6flush0", "flushNow"]),
    ("NIO write through the pipeline (HTTP encoders)", ["HTTPResponseEncoderC5write", "ToHTTPServerCodecC5write",
                                                        "HTTPConnectionStateHandlerC5write"]),
    ("  NIOHTTP1 chunk framing (writeChunk)", ["writeChunk"]),
    ("NIOAsyncChannel outbound writes (writer -> loop hop)", ["NIOAsyncChannelHandlerC17_doOutboundWrites",
                                                              "NIOAsyncChannelHandlerWriterDelegate"]),
    ("NIOAsyncWriter yield (task side)", ["NIOAsyncWriter", "NIOAsyncChannelOutboundWriter"]),
    ("Swift concurrency: jobs on the global executor", ["swift_job_run", "_dispatch_worker_thread"]),
    ("Swift concurrency: continuation resume / task enqueue", ["swift_continuation_resume", "swift_task_enqueue",
                                                                "swift_continuation_throwingResume"]),
    ("Hummingbird response body writer", ["HummingbirdCore", "11Hummingbird"]),
    ("Herald Subscription.stream (writer task)", ["9HeraldHub12SubscriptionC6stream"]),
    ("Herald WriterBox.write", ["WriterBoxC5write"]),
    ("Herald SubscriptionQueue.next (wait/resume)", ["SubscriptionQueueC4next"]),
    ("Herald HubShard.process (fan-out on the loop)", ["0B5ShardC7process"]),
    ("  SubscriptionQueue.enqueue", ["SubscriptionQueueC7enqueue"]),
    ("  SubscriptionQueue.flush (wakes the writer task)", ["SubscriptionQueueC5flush"]),
    ("Herald Hub.dispatch / publish path", ["9HeraldHub0B0C8dispatch", "9HeraldHub0B0C7publish"]),
    ("Herald publish endpoint (HTTP handler)", ["0A8EndpointC7publish", "0A8EndpointC15publishOrRefuse"]),
    ("NIO channel reads (requests in)", ["readFromSocket", "BaseStreamSocketChannelC08readFrom"]),
    ("malloc/free", ["malloc", "_int_free", "cfree", "__libc_free"]),
    ("swift_retain/release", ["swift_retain", "swift_release"]),
    ("locks (pthread_mutex, os_unfair_lock)", ["pthread_mutex_lock", "pthread_mutex_unlock", "lll_lock"]),
]


def read_samples(path):
    samples = []
    comm = None
    stack = []
    with open(path, errors="replace") as text:
        for line in text:
            if not line.strip():
                if comm is not None:
                    samples.append((comm, stack))
                comm, stack = None, []
                continue
            if not line.startswith(("\t", " ")):
                comm = line.strip()
                stack = []
                continue
            parts = line.strip().split(None, 1)
            stack.append(parts[1] if len(parts) > 1 else "?")
    if comm is not None:
        samples.append((comm, stack))
    return samples


def demangle(names):
    tool = shutil.which("swift-demangle") or "/opt/swift/usr/bin/swift-demangle"
    try:
        out = subprocess.run([tool, "--simplified", "--compact"], input="\n".join(names), capture_output=True,
                             text=True, timeout=60).stdout.splitlines()
        if len(out) == len(names):
            return {name: short(pretty) for name, pretty in zip(names, out)}
    except (OSError, subprocess.TimeoutExpired):
        pass
    return {name: name for name in names}


def short(name, limit=150):
    return name if len(name) <= limit else name[:limit - 3] + "..."


def is_runtime(name):
    return any(name.startswith(prefix) or prefix in name for prefix in RUNTIME[:-2]) or name.startswith(("$ss", "$sS"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("script")
    parser.add_argument("--us-per-delivery", type=float, default=0,
                        help="server CPU µs per delivery of the run, to show shares as µs per delivery")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    samples = read_samples(args.script)
    total = len(samples)
    if not total:
        sys.exit("no samples")
    per_sample_us = args.us_per_delivery / total

    def show(count):
        text = f"{100 * count / total:6.2f}%"
        if per_sample_us:
            text += f" {count * per_sample_us:6.3f} µs"
        return text

    self_counts = collections.Counter(stack[0] for _, stack in samples if stack)
    callers = collections.Counter()
    for _, stack in samples:
        if stack and is_runtime(stack[0]):
            caller = next((frame for frame in stack[1:] if not is_runtime(frame)), "?")
            callers[(stack[0].split("@")[0], caller)] += 1
    inclusive = collections.Counter()
    for _, stack in samples:
        joined = "\n".join(stack)
        for label, needles in LAYERS:
            if any(needle in joined for needle in needles):
                inclusive[label] += 1
    threads = collections.Counter(comm.rsplit("-", 1)[0] if comm.startswith("NIO-") else comm for comm, _ in samples)

    names = [name for name, _ in self_counts.most_common(args.top)] + [c for (_, c), _ in callers.most_common(args.top)]
    pretty = demangle(sorted(set(names)))
    print(f"samples: {total}" + (f"; {args.us_per_delivery:.2f} µs server CPU per delivery" if per_sample_us else ""))
    print("\nSelf time, top symbols:")
    for name, count in self_counts.most_common(args.top):
        print(f"  {show(count)}  {pretty.get(name, name)}")
    print("\nRuntime/allocator self time by first non-runtime caller:")
    for (leaf, caller), count in callers.most_common(args.top):
        print(f"  {show(count)}  {leaf:<22} <- {pretty.get(caller, caller)}")
    print("\nInclusive share by layer (a sample counts for every layer on its stack):")
    for label, _ in LAYERS:
        print(f"  {show(inclusive[label])}  {label}")
    print("\nSamples by thread:")
    for name, count in threads.most_common(8):
        print(f"  {show(count)}  {name}")


if __name__ == "__main__":
    main()
