import HeraldRedis
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// What the fake server does with one command.
enum FakeReply: Sendable {
    /// Writes these bytes verbatim (valid RESP or garbage).
    case bytes(String)
    /// Answers nothing.
    case silence
    /// Closes the client's connection.
    case close
}

/// A scripted stand-in for Redis on 127.0.0.1: parses each command the client sends and
/// answers what `respond` says, so tests can play a broken or old server.
final class FakeRedisServer: Sendable {
    let port: Int
    private let channel: any Channel
    private let log: NIOLockedValueBox<FakeServerLog>

    struct FakeServerLog: Sendable {
        var commands: [[String]] = []
        var accepted = 0
        var closed = 0
    }

    private init(channel: any Channel, port: Int, log: NIOLockedValueBox<FakeServerLog>) {
        self.channel = channel
        self.port = port
        self.log = log
    }

    /// Every command received so far, across connections, in arrival order.
    var commands: [[String]] { log.withLockedValue { $0.commands } }
    /// Connections accepted so far.
    var acceptedConnections: Int { log.withLockedValue { $0.accepted } }
    /// Connections that have since closed (from either side).
    var closedConnections: Int { log.withLockedValue { $0.closed } }

    static func start(respond: @escaping @Sendable ([String]) -> FakeReply) async throws -> FakeRedisServer {
        let log = NIOLockedValueBox(FakeServerLog())
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(FakeServerHandler(respond: respond, log: log))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return FakeRedisServer(channel: channel, port: channel.localAddress!.port!, log: log)
    }

    /// A client configuration aimed at this server.
    func configuration(password: String? = nil, database: Int = 0, commandTimeout: Duration? = .seconds(30))
        -> RedisConfiguration
    {
        RedisConfiguration(
            host: "127.0.0.1", port: port, password: password, database: database,
            connectTimeout: .seconds(10), commandTimeout: commandTimeout
        )
    }

    func stop() async {
        try? await channel.close()
    }
}

private final class FakeServerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let respond: @Sendable ([String]) -> FakeReply
    private let log: NIOLockedValueBox<FakeRedisServer.FakeServerLog>
    private var parser = RESPParser()
    private var buffer = ByteBuffer()

    init(respond: @escaping @Sendable ([String]) -> FakeReply, log: NIOLockedValueBox<FakeRedisServer.FakeServerLog>) {
        self.respond = respond
        self.log = log
    }

    func channelActive(context: ChannelHandlerContext) {
        log.withLockedValue { $0.accepted += 1 }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        log.withLockedValue { $0.closed += 1 }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        do {
            while let command = try parser.next(from: &buffer) {
                let arguments = command.array?.compactMap(\.string) ?? []
                log.withLockedValue { $0.commands.append(arguments) }
                switch respond(arguments) {
                case .bytes(let text):
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
                case .silence:
                    break
                case .close:
                    context.close(promise: nil)
                    return
                }
            }
        } catch {
            context.close(promise: nil)
        }
    }
}

/// A minimal RESP3 `HELLO` answer.
let fakeHelloReply = "%2\r\n+proto\r\n:3\r\n+version\r\n+7.9.9\r\n"
