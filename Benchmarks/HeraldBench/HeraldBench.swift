import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `herald-bench`: the load generator behind `Benchmarks/compare.sh`. One run = one case
/// against one already-running server (Herald, nchan or any SSE hub that publishes by POST):
///
/// - `--mode fanout`: S subscribers on one topic, publishers for `--duration` seconds (as fast as
///   possible, or `--rate` publishes/s in total), then a drain until every subscriber has every
///   acknowledged event (or `--drain-timeout`). With `--subscribers 0` it measures the publish
///   endpoint alone. Two regimes of it matter (`compare.py` runs both): max-rate fan-out with a
///   flow-control window (`--publishers 4 --window 100`: at most 100 undelivered events per
///   subscriber in flight), and the broadcast regime (`--publishers 1 --window 0`: one
///   closed-loop publisher, the next POST as soon as the last is answered, and readers that
///   drain at once; only the server's own backpressure bounds it).
/// - `--mode idle`: S subscribers, then the server's RSS growth per connection after `--settle`.
/// - `--mode soak`: S subscribers, then exactly `--updates` publishes in `--slices` equal slices;
///   after each slice (once every subscriber has it) the CPU time and RSS of each `--server-pid`,
///   so that a cost per update that grows with time shows (`Benchmarks/soak.py` runs it).
///
/// Prints progress on stderr and one `RESULT {json}` line on stdout. Loopback only; every phase
/// is bounded in time; closes every connection it opened before it exits.
@main
struct HeraldBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald-bench",
        abstract: "Load generator for Herald and other SSE hubs (loopback only, bounded in time and count)."
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable { case fanout, idle, soak }

    @Option(help: "fanout, idle or soak.") var mode: Mode = .fanout
    @Option(help: "soak: updates to publish in all.") var updates = 1_000_000
    @Option(help: "soak: slices the updates are measured in.") var slices = 10
    @Option(help: "Server address (loopback).") var host = "127.0.0.1"
    @Option(help: "Server port.") var port: Int
    @Option(help: "Port to publish to, when not the subscribers' (another node of a cluster).") var publishPort: Int?
    @Option(help: "Subscribe path and query.") var subscribePath = "/.well-known/mercure?topic=bench"
    @Option(help: "Publish path.") var publishPath = "/.well-known/mercure"
    @Option(help: "Publish body: mercure (form with topic and data) or raw (nchan).") var format = "mercure"
    @Option(help: "Topic for mercure publishes.") var topic = "bench"
    @Option(help: "Subscribers.") var subscribers = 100
    @Option(help: "Concurrent keep-alive publishing connections.") var publishers = 4
    @Option(help: "Seconds of publishing.") var duration = 10.0
    @Option(help: "Total publishes per second (open loop); 0 publishes as fast as answers come.") var rate = 0.0
    @Option(help: "Closed loop: at most this many undelivered events per subscriber (0: no limit).") var window = 0
    @Option(help: "Extra bytes of payload per event.") var dataBytes = 0
    @Option(help: "Seconds to wait for the last deliveries.") var drainTimeout = 20.0
    @Option(help: "Seconds between the last subscriber's 200 and publishing (idle: measuring).") var settle = 1.0
    @Option(help: "Event loop threads of the load generator.") var threads = 2
    @Option(help: "Subscriber connections being opened at once.") var connectConcurrency = 128
    @Option(help: "Source addresses 127.0.0.2... used by subscribers (max 249).") var sourceAddresses = 249
    @Option(help: "Server process id (repeatable); its descendants count too.") var serverPid: [Int32] = []
    @Option(help: "A label copied into the result.") var label = ""

    func validate() throws {
        guard host.hasPrefix("127.") || host == "::1" || host == "localhost" else {
            throw ValidationError("loopback targets only")
        }
        guard PublishFormat(rawValue: format) != nil else { throw ValidationError("format: mercure or raw") }
        guard (0...15_000).contains(subscribers) else { throw ValidationError("subscribers: 0...15000") }
        guard (1...256).contains(publishers) else { throw ValidationError("publishers: 1...256") }
        guard duration > 0 && duration <= 120, drainTimeout <= 120, settle <= 120 else {
            throw ValidationError("durations are capped at 120 s")
        }
        guard (1...50_000_000).contains(updates), (1...1000).contains(slices), updates >= slices else {
            throw ValidationError("updates 1...50000000, slices 1...1000 and at most updates")
        }
        guard (1...249).contains(sourceAddresses), (1...8).contains(threads) else {
            throw ValidationError("source addresses 1...249, threads 1...8")
        }
    }

    func run() async throws {
        let limits = raiseOpenFilesLimit()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let loops = Array(group.makeIterator())
        let stats = loops.map { LoopStats(loop: $0) }
        var result: [String: Any] = [
            "label": label, "mode": mode.rawValue, "subscribers": subscribers,
            "nofile_soft": limits.soft, "nofile_hard": limits.hard, "threads": threads,
        ]
        let baseline = Snapshot.take(serverRoots: serverPid)
        result["server_rss_kib_before"] = baseline.serverRSS

        do {
            let connectStart = monotonicNanoseconds()
            let (ready, failures) = try await connectSubscribers(stats: stats)
            let connectSeconds = Double(monotonicNanoseconds() - connectStart) / 1e9
            result["subscribers_ready"] = ready
            result["subscribers_failed"] = failures.count
            if let first = failures.first { result["subscribe_error"] = first }
            result["connect_s"] = connectSeconds
            note("\(label): \(ready)/\(subscribers) subscribers ready in \(String(format: "%.1f", connectSeconds)) s")
            if ready < subscribers {
                note("\(label): \(subscribers - ready) subscribers failed, e.g. \(failures.first ?? "-")")
            }
            let settleStart = Snapshot.take(serverRoots: serverPid)
            try await Task.sleep(for: .milliseconds(Int(settle * 1000)))

            switch mode {
            case .idle:
                let after = Snapshot.take(serverRoots: serverPid)
                result["server_rss_kib_after"] = after.serverRSS
                result["rss_kib_per_connection"] =
                    ready > 0 ? Double(after.serverRSS - baseline.serverRSS) / Double(ready) : 0
                result["server_cpu_s_settle"] = after.serverCPU - settleStart.serverCPU
                result["loadgen_cpu_s_connect"] = settleStart.selfCPU - baseline.selfCPU
                result["server_cpu_s_connect"] = settleStart.serverCPU - baseline.serverCPU
            case .fanout:
                try await fanout(loops: loops, stats: stats, ready: ready, into: &result)
            case .soak:
                try await soak(loops: loops, stats: stats, ready: ready, into: &result)
            }
        } catch {
            result["error"] = "\(error)"
            note("\(label): error: \(error)")
        }

        for loopStats in stats {
            try? await loopStats.loop.submit { for subscriber in loopStats.subscribers { subscriber.close() } }.get()
        }
        try? await Task.sleep(for: .milliseconds(300))
        try await group.shutdownGracefully()
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print("RESULT " + String(decoding: json, as: UTF8.self))
    }

    // MARK: subscribers

    private var subscribeRequest: ByteBuffer {
        ByteBuffer(
            string: "GET \(subscribePath) HTTP/1.1\r\nHost: \(host):\(port)\r\n"
                + "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
        )
    }

    /// Opens the subscribers, at most `connectConcurrency` at a time, each from a source address
    /// in 127.0.0.2... so that ephemeral ports do not run out; returns how many got their 200.
    private func connectSubscribers(stats: [LoopStats]) async throws -> (Int, [String]) {
        let request = subscribeRequest
        let host = self.host, port = self.port, publishers = self.publishers, sources = self.sourceAddresses
        var ready = 0
        var failures: [String] = []
        try await withThrowingTaskGroup(of: String?.self) { group in
            var started = 0
            var running = 0
            while started < subscribers || running > 0 {
                if started < subscribers && running < connectConcurrency {
                    let index = started
                    started += 1
                    running += 1
                    group.addTask {
                        await Self.connectSubscriber(
                            index: index, stats: stats[index % stats.count], request: request, host: host, port: port,
                            publishers: publishers, source: "127.0.0.\(2 + index % sources)"
                        )
                    }
                    continue
                }
                if let outcome = try await group.next() {
                    running -= 1
                    if let failure = outcome { failures.append(failure) } else { ready += 1 }
                }
            }
        }
        return (ready, failures)
    }

    /// Nil when the subscriber got its 200, else why not.
    private static func connectSubscriber(
        index: Int, stats: LoopStats, request: ByteBuffer, host: String, port: Int, publishers: Int, source: String
    ) async -> String? {
        let loop = stats.loop
        let promise = loop.makePromise(of: Void.self)
        let handler = SubscriberHandler(stats: stats, request: request, publishers: publishers, ready: promise)
        do {
            let bootstrap = ClientBootstrap(group: loop)
                .connectTimeout(.seconds(10))
                .bind(to: try SocketAddress(ipAddress: source, port: 0))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
                }
            _ = try await bootstrap.connect(host: host, port: port).get()
            loop.scheduleTask(in: .seconds(20)) { handler.timeOut() }
            try await promise.futureResult.get()
            return nil
        } catch {
            loop.execute { handler.timeOut() }
            return "\(error)"
        }
    }

    // MARK: fan-out

    private func fanout(loops: [any EventLoop], stats: [LoopStats], ready: Int, into result: inout [String: Any])
        async throws
    {
        let handlers = try await connectPublishers(loop: loops[0])
        let driver = PublishDriver(
            loop: loops[0], publishers: handlers, rate: rate, duration: duration, window: window,
            subscribers: ready,
            deliveredSoFar: { stats.reduce(0) { $0 + $1.deliveredShared.load(ordering: .relaxed) } }
        )
        note("\(label): publishing for \(duration) s" + (rate > 0 ? " at \(rate)/s" : " as fast as possible"))

        let before = Snapshot.take(serverRoots: serverPid)
        try await driver.run().get()
        let publishEnd = monotonicNanoseconds()
        let publishing = try await loops[0].submit {
            var latency = LatencyHistogram()
            for handler in driver.publishers { latency.merge(handler.responseLatency) }
            return (
                driver.acknowledged, driver.publishers.reduce(0) { $0 + $1.refused }, driver.late, latency,
                driver.publishers.compactMap { $0.lastRefusal?.code }.first
            )
        }.get()
        let acknowledged = publishing.0
        let publishSeconds = Double(publishEnd - before.time) / 1e9
        note("\(label): \(acknowledged) publishes acknowledged (\(Int(Double(acknowledged) / publishSeconds))/s), draining")

        // Drain: until every live subscriber has every acknowledged event, or the timeout.
        let drainDeadline = monotonicNanoseconds() + UInt64(drainTimeout * 1e9)
        var complete = 0
        var closed = 0
        while monotonicNanoseconds() < drainDeadline {
            complete = 0
            closed = 0
            for loopStats in stats {
                let (done, gone) = try await loopStats.loop.submit {
                    var done = 0
                    var gone = 0
                    for subscriber in loopStats.subscribers where subscriber.status == 200 {
                        if subscriber.isClosed { gone += 1 } else if subscriber.received >= acknowledged { done += 1 }
                    }
                    return (done, gone)
                }.get()
                complete += done
                closed += gone
            }
            if complete + closed >= ready { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let after = Snapshot.take(serverRoots: serverPid)

        var delivered = 0
        var reordered = 0
        var duplicates = 0
        var lost = 0
        var lastReceive: UInt64 = 0
        var latency = LatencyHistogram()
        for loopStats in stats {
            let part = try await loopStats.loop.submit {
                var lost = 0
                for subscriber in loopStats.subscribers where subscriber.status == 200 {
                    lost += max(0, acknowledged - subscriber.received)
                }
                return (
                    loopStats.delivered, loopStats.reordered, loopStats.duplicates, lost, loopStats.lastReceive,
                    loopStats.latency
                )
            }.get()
            delivered += part.0
            reordered += part.1
            duplicates += part.2
            lost += part.3
            lastReceive = max(lastReceive, part.4)
            latency.merge(part.5)
        }
        for handler in handlers { loops[0].execute { handler.close() } }

        let windowSeconds = Double(after.time - before.time) / 1e9
        let deliverySeconds = Double((lastReceive > before.time ? lastReceive : after.time) - before.time) / 1e9
        let serverCPU = after.serverCPU - before.serverCPU
        let selfCPU = after.selfCPU - before.selfCPU
        let machineBusy = after.machineBusy - before.machineBusy
        result["publishers"] = publishers
        result["rate"] = rate
        result["window"] = window
        result["published"] = acknowledged
        result["publish_refused"] = publishing.1
        if let code = publishing.4 { result["publish_refused_status"] = code }
        result["publish_late_ticks"] = publishing.2
        result["publish_s"] = publishSeconds
        result["publish_per_s"] = Double(acknowledged) / publishSeconds
        result["publish_latency"] = publishing.3.summary
        result["delivered"] = delivered
        result["expected"] = acknowledged * ready
        result["lost"] = lost
        result["reordered"] = reordered
        result["duplicates"] = duplicates
        result["subscribers_complete"] = complete
        result["subscribers_closed"] = closed
        result["drained"] = complete + closed >= ready
        result["delivery_s"] = deliverySeconds
        result["deliveries_per_s"] = deliverySeconds > 0 ? Double(delivered) / deliverySeconds : 0
        result["latency"] = latency.summary
        result["window_s"] = windowSeconds
        result["server_cpu_s"] = serverCPU
        result["loadgen_cpu_s"] = selfCPU
        result["machine_busy_s"] = machineBusy
        result["other_busy_s"] = machineBusy - serverCPU - selfCPU
        result["machine_capacity_s"] = after.machineTotal - before.machineTotal
        result["steal_s"] = after.machineSteal - before.machineSteal
        result["softirq_s"] = after.machineSoftirq - before.machineSoftirq
        result["server_cpu_us_per_delivery"] = delivered > 0 ? serverCPU * 1e6 / Double(delivered) : 0
        result["server_cpu_us_per_publish"] = acknowledged > 0 ? serverCPU * 1e6 / Double(acknowledged) : 0
        result["loadgen_cpu_us_per_delivery"] = delivered > 0 ? selfCPU * 1e6 / Double(delivered) : 0
        result["server_rss_kib_after"] = after.serverRSS
        note(
            "\(label): delivered \(delivered) of \(acknowledged * ready), \(Int(Double(delivered) / max(deliverySeconds, 1e-9)))/s, "
                + "server CPU \(String(format: "%.2f", serverCPU)) s, loadgen CPU \(String(format: "%.2f", selfCPU)) s"
        )
    }

    // MARK: publishers (fan-out and soak)

    /// Opens `publishers` keep-alive connections to the publish port, each with its handler.
    private func connectPublishers(loop: any EventLoop) async throws -> [PublisherHandler] {
        let format = PublishFormat(rawValue: format) ?? .mercure
        var handlers: [PublisherHandler] = []
        for index in 0..<publishers {
            let publishPort = self.publishPort ?? port
            let handler = PublisherHandler(
                index: index, host: "\(host):\(publishPort)", path: publishPath, format: format, topic: topic,
                dataBytes: dataBytes
            )
            _ = try await ClientBootstrap(group: loop)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .connect(host: host, port: publishPort).get()
            handlers.append(handler)
        }
        return handlers
    }

    /// Events received so far by each open subscriber, all loops together: (fewest, still open).
    private func fewestReceived(stats: [LoopStats]) async throws -> (Int, Int) {
        var fewest = Int.max
        var open = 0
        for loopStats in stats {
            let (least, count) = try await loopStats.loop.submit {
                var least = Int.max
                var count = 0
                for subscriber in loopStats.subscribers where subscriber.status == 200 && !subscriber.isClosed {
                    least = min(least, subscriber.received)
                    count += 1
                }
                return (least, count)
            }.get()
            fewest = min(fewest, least)
            open += count
        }
        return (fewest, open)
    }

    private func soak(loops: [any EventLoop], stats: [LoopStats], ready: Int, into result: inout [String: Any])
        async throws
    {
        let handlers = try await connectPublishers(loop: loops[0])
        let driver = SoakDriver(
            loop: loops[0], publishers: handlers, window: window > 0 ? window : 1000, subscribers: ready,
            deliveredSoFar: { stats.reduce(0) { $0 + $1.deliveredShared.load(ordering: .relaxed) } }
        )
        let pids = serverPid
        func sample() -> (cpu: [Double], rss: [Int], time: UInt64) {
            (pids.map { Proc.cpuSeconds($0) ?? 0 }, pids.map { Proc.rssKiB($0) ?? 0 }, monotonicNanoseconds())
        }
        var previous = sample()
        var rows: [[String: Any]] = []
        var published = 0
        var lostSubscribers = 0
        note("\(label): soak of \(updates) updates in \(slices) slices, \(ready) subscribers")
        for slice in 0..<slices {
            let count = updates / slices + (slice < updates % slices ? 1 : 0)
            try await driver.publish(count: count).get()
            published += count
            // Drain: every open subscriber has every acknowledged update (bounded wait).
            let deadline = monotonicNanoseconds() + UInt64(drainTimeout * 1e9)
            var (fewest, open) = try await fewestReceived(stats: stats)
            while open > 0 && fewest < published && monotonicNanoseconds() < deadline {
                try await Task.sleep(for: .milliseconds(5))
                (fewest, open) = try await fewestReceived(stats: stats)
            }
            lostSubscribers = ready - open
            let now = sample()
            let seconds = Double(now.time - previous.time) / 1e9
            let cpuPerUpdate = zip(now.cpu, previous.cpu).map { ($0 - $1) * 1e6 / Double(count) }
            rows.append([
                "slice": slice + 1, "updates": published, "seconds": seconds, "updates_per_s": Double(count) / seconds,
                "cpu_us_per_update": cpuPerUpdate, "rss_kib": now.rss, "drained": open > 0 && fewest >= published,
                "subscribers_open": open,
            ])
            let cpuText = cpuPerUpdate.map { String(format: "%.1f", $0) }.joined(separator: " / ")
            let rssText = now.rss.map { String($0 / 1024) }.joined(separator: " / ")
            note(
                "\(label): slice \(slice + 1)/\(slices): \(published) updates, \(Int(Double(count) / seconds))/s, "
                    + "CPU µs/update \(cpuText), RSS MiB \(rssText)"
            )
            previous = now
        }
        let (refused, acknowledged) = try await loops[0].submit { (driver.refused, driver.acknowledged) }.get()
        var reordered = 0
        var duplicates = 0
        for loopStats in stats {
            let part = try await loopStats.loop.submit { (loopStats.reordered, loopStats.duplicates) }.get()
            reordered += part.0
            duplicates += part.1
        }
        for handler in handlers { loops[0].execute { handler.close() } }
        result["server_pids"] = pids.map(Int.init)
        result["slices"] = rows
        result["published"] = acknowledged
        result["publish_refused"] = refused
        result["reordered"] = reordered
        result["duplicates"] = duplicates
        result["subscribers_lost"] = lostSubscribers
    }
}
