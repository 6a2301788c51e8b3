import ArgumentParser

/// `herald-bench`: load generator and side-by-side comparisons (filled in by the benchmark work).
@main
struct HeraldBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald-bench",
        abstract: "Load generator for Herald and other SSE hubs (loopback only, bounded in time and count)."
    )
}
