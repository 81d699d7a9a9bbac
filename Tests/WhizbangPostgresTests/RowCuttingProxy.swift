import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy on loopback in front of the test server that can end its connections in the middle of a result.
///
/// It forwards the server's messages whole (it reads their type byte and length, so it works only without TLS).
/// Once ``startCutting()`` is called, it forwards each connection's next data row and then, instead of the rest of
/// the result, closes its side of the connection to the client cleanly (FIN), as a server whose backend is killed
/// while it sends rows. ``freezeExisting()`` makes the connections open at that moment go silent instead, without
/// closing them: nothing the server sends on them reaches the client any more, as behind a network path that drops
/// packets (a failover, a crashed host). After ``silenceAfterStartup()``, each new connection goes silent in the same
/// way as soon as it is ready for its first query: a server that accepts a connection and then stops answering.
final class RowCuttingProxy: Sendable {
    /// The port the proxy listens on, on 127.0.0.1.
    let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let listener: any Channel
    private let control: Control

    /// Whether the proxy cuts, and how many connections it cut.
    final class Control: Sendable {
        let cutting = Atomic(false)
        let cuts = Atomic(0)
        /// How many connections were opened, and below which number they are silent.
        let opened = Atomic(0)
        let silentBelow = Atomic(0)
        /// Whether new connections go silent once ready for their first query.
        let silentAfterStartup = Atomic(false)
    }

    private init(port: Int, group: MultiThreadedEventLoopGroup, listener: any Channel, control: Control) {
        self.port = port
        self.group = group
        self.listener = listener
        self.control = control
    }

    /// Starts a proxy to `host:port`.
    static func start(upstreamHost host: String, upstreamPort port: Int) async throws -> RowCuttingProxy {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let control = Control()
        do {
            let listener = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.autoRead, value: false)
                .childChannelInitializer { client in
                    ClientBootstrap(group: client.eventLoop)
                        .channelInitializer { server in
                            server.eventLoop.makeCompletedFuture {
                                try server.pipeline.syncOperations.addHandler(
                                    ServerToClient(client: client, control: control))
                            }
                        }
                        .connect(host: host, port: port)
                        .flatMapThrowing { server in
                            try client.pipeline.syncOperations.addHandler(ClientToServer(server: server))
                            client.setOption(.autoRead, value: true).whenComplete { _ in }
                        }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            return RowCuttingProxy(
                port: listener.localAddress?.port ?? 0, group: group, listener: listener, control: control)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// From now on, ends each connection right behind the next data row the server sends on it.
    func startCutting() { control.cutting.store(true, ordering: .sequentiallyConsistent) }

    /// Forwards everything again.
    func stopCutting() { control.cutting.store(false, ordering: .sequentiallyConsistent) }

    /// From now on, forwards nothing the server sends on the connections open now; later ones work.
    func freezeExisting() {
        let opened = control.opened.load(ordering: .sequentiallyConsistent)
        control.silentBelow.store(opened, ordering: .sequentiallyConsistent)
    }

    /// From now on, each new connection forwards what the server sends up to its first ReadyForQuery (the end of the
    /// startup), and nothing after it.
    func silenceAfterStartup() { control.silentAfterStartup.store(true, ordering: .sequentiallyConsistent) }

    /// New connections forward everything again (those silenced stay silent).
    func answerNewConnections() { control.silentAfterStartup.store(false, ordering: .sequentiallyConsistent) }

    /// How many connections the proxy ended in the middle of a result.
    var cuts: Int { control.cuts.load(ordering: .sequentiallyConsistent) }

    /// Stops listening and closes every connection.
    func stop() async throws {
        try await listener.close()
        try await group.shutdownGracefully()
    }

    /// Forwards what the client sends to the server.
    private final class ClientToServer: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let server: any Channel

        init(server: any Channel) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            server.writeAndFlush(unwrapInboundIn(data), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            server.close(promise: nil)
            context.fireChannelInactive()
        }
    }

    /// Forwards the server's messages to the client, whole, and cuts behind a data row when told to.
    private final class ServerToClient: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let client: any Channel
        let control: Control
        let number: Int
        let silentAfterStartup: Bool
        private var pending = ByteBuffer()
        private var cut = false
        private var silent = false

        init(client: any Channel, control: Control) {
            self.client = client
            self.control = control
            self.number = control.opened.add(1, ordering: .sequentiallyConsistent).oldValue
            self.silentAfterStartup = control.silentAfterStartup.load(ordering: .sequentiallyConsistent)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !cut, !silent, number >= control.silentBelow.load(ordering: .sequentiallyConsistent) else { return }
            var incoming = unwrapInboundIn(data)
            pending.writeBuffer(&incoming)
            // Each backend message is a type byte and a length that counts itself but not the type byte.
            var whole = 0
            while let type = pending.getInteger(at: pending.readerIndex + whole, as: UInt8.self),
                let length = pending.getInteger(at: pending.readerIndex + whole + 1, as: Int32.self),
                pending.readableBytes >= whole + 1 + Int(length)
            {
                whole += 1 + Int(length)
                if type == UInt8(ascii: "Z") && silentAfterStartup {
                    silent = true
                    break
                }
                if type == UInt8(ascii: "D") && control.cutting.load(ordering: .sequentiallyConsistent) {
                    cut = true
                    break
                }
            }
            guard whole > 0, let messages = pending.readSlice(length: whole) else { return }
            client.writeAndFlush(messages, promise: nil)
            if cut {
                control.cuts.add(1, ordering: .sequentiallyConsistent)
                client.close(mode: .output, promise: nil)
                context.close(promise: nil)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            // After a cut the client closes its end when it reads the FIN.
            if !cut { client.close(promise: nil) }
            context.fireChannelInactive()
        }
    }
}
