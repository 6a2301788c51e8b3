#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// CLOCK_MONOTONIC in nanoseconds: one clock shared by every process on the machine, so a
/// timestamp written into an event by the publisher can be compared with the receive time.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// Raises the soft open-files limit to the hard limit; returns (soft, hard) after the change.
func raiseOpenFilesLimit() -> (soft: UInt64, hard: UInt64) {
    var limit = rlimit()
    #if canImport(Glibc)
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    let resource = RLIMIT_NOFILE
    #endif
    guard getrlimit(resource, &limit) == 0 else { return (0, 0) }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(resource, &limit)
        _ = getrlimit(resource, &limit)
    }
    return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
}

/// Readings from /proc: CPU time and resident memory of processes, and the machine's busy time.
enum Proc {
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// Fields of /proc/PID/stat after the command name (field 3, the state, is index 0).
    private static func statFields(_ pid: Int32) -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    /// utime + stime of one process, in seconds.
    static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let fields = statFields(pid), fields.count > 12,
            let user = Double(fields[11]), let system = Double(fields[12])
        else { return nil }
        return (user + system) / ticksPerSecond
    }

    static func parent(_ pid: Int32) -> Int32? {
        guard let fields = statFields(pid), fields.count > 1 else { return nil }
        return Int32(fields[1])
    }

    /// `roots` and all their descendants (nginx: master and workers).
    static func withDescendants(_ roots: [Int32]) -> [Int32] {
        guard !roots.isEmpty else { return [] }
        var all = Set(roots)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        let pids = entries.compactMap { Int32($0) }
        var parents: [Int32: Int32] = [:]
        for pid in pids { if let parent = parent(pid) { parents[pid] = parent } }
        var changed = true
        while changed {
            changed = false
            for (pid, parent) in parents where all.contains(parent) && !all.contains(pid) {
                all.insert(pid)
                changed = true
            }
        }
        return all.sorted()
    }

    /// VmRSS in KiB.
    static func rssKiB(_ pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }

    /// Seconds of all CPUs from /proc/stat: busy (steal included), total, and of those the time
    /// the hypervisor took (steal) and softirq time (much of loopback networking lands there).
    static func machineSeconds() -> (busy: Double, total: Double, steal: Double, softirq: Double) {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first
        else { return (0, 0, 0, 0) }
        let values = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard values.count >= 8 else { return (0, 0, 0, 0) }
        let total = values.prefix(8).reduce(0, +)
        let idle = values[3] + values[4]
        return (
            (total - idle) / ticksPerSecond, total / ticksPerSecond, values[7] / ticksPerSecond,
            values[6] / ticksPerSecond
        )
    }
}

/// CPU and memory of the server processes, the load generator and the machine at one instant.
struct Snapshot {
    var time: UInt64
    var serverCPU: Double
    var serverRSS: Int
    var selfCPU: Double
    var machineBusy: Double
    var machineTotal: Double
    var machineSteal: Double
    var machineSoftirq: Double

    static func take(serverRoots: [Int32]) -> Snapshot {
        let pids = Proc.withDescendants(serverRoots)
        let machine = Proc.machineSeconds()
        return Snapshot(
            time: monotonicNanoseconds(),
            serverCPU: pids.compactMap(Proc.cpuSeconds).reduce(0, +),
            serverRSS: pids.compactMap(Proc.rssKiB).reduce(0, +),
            selfCPU: Proc.cpuSeconds(getpid()) ?? 0,
            machineBusy: machine.busy,
            machineTotal: machine.total,
            machineSteal: machine.steal,
            machineSoftirq: machine.softirq
        )
    }
}

/// Latencies with 1 µs resolution below 100 ms and 1 ms resolution up to 60 s.
struct LatencyHistogram: Sendable {
    private static let fineCount = 100_000
    private static let coarseCount = 60_000
    private var fine: [UInt32]
    private var coarse: [UInt32]
    private(set) var count: Int = 0
    private(set) var maxNanoseconds: UInt64 = 0
    private var sumMicroseconds: Double = 0

    init() {
        fine = Array(repeating: 0, count: Self.fineCount)
        coarse = Array(repeating: 0, count: Self.coarseCount)
    }

    @inline(__always)
    mutating func record(nanoseconds: UInt64) {
        let micros = Int(nanoseconds / 1000)
        if micros < Self.fineCount {
            fine[micros] &+= 1
        } else {
            coarse[min(micros / 1000, Self.coarseCount - 1)] &+= 1
        }
        count &+= 1
        sumMicroseconds += Double(micros)
        if nanoseconds > maxNanoseconds { maxNanoseconds = nanoseconds }
    }

    mutating func merge(_ other: LatencyHistogram) {
        for index in 0..<Self.fineCount where other.fine[index] != 0 { fine[index] += other.fine[index] }
        for index in 0..<Self.coarseCount where other.coarse[index] != 0 { coarse[index] += other.coarse[index] }
        count += other.count
        sumMicroseconds += other.sumMicroseconds
        maxNanoseconds = max(maxNanoseconds, other.maxNanoseconds)
    }

    /// The latency (µs) below which `fraction` of the samples fall.
    func percentile(_ fraction: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = max(1, Int((Double(count) * fraction).rounded(.up)))
        var seen = 0
        for index in 0..<Self.fineCount {
            seen += Int(fine[index])
            if seen >= rank { return Double(index) }
        }
        for index in 0..<Self.coarseCount {
            seen += Int(coarse[index])
            if seen >= rank { return Double(index) * 1000 }
        }
        return Double(maxNanoseconds) / 1000
    }

    var summary: [String: Any] {
        guard count > 0 else { return ["count": 0] }
        return [
            "count": count,
            "mean_us": sumMicroseconds / Double(count),
            "p50_us": percentile(0.50) ?? 0,
            "p90_us": percentile(0.90) ?? 0,
            "p99_us": percentile(0.99) ?? 0,
            "p999_us": percentile(0.999) ?? 0,
            "max_us": Double(maxNanoseconds) / 1000,
        ]
    }
}

/// Prints to standard error (progress), so standard output carries only the result line.
func note(_ text: String) {
    FileHandle.standardError.write(Data(("herald-bench: " + text + "\n").utf8))
}
