import DequeModule
import NIOCore
import NIOHTTP1

/// Answers an HTTP/1.0 request as HTTP/1.0 frames it (RFC 9112 §6.3, §9.3): the response in version 1.0, never
/// chunked (a 1.0 client does not know chunked transfer coding), its end marked by the end of the connection.
///
/// Hummingbird's HTTP/1 channel converts requests and responses to HTTP types, which carry no version: every response
/// goes out as 1.1, so a live stream to a 1.0 client would be chunked, and a 1.0 connection without keep-alive would
/// stay open until the idle timeout. This handler sits in front of that conversion, on the parts of NIO's own codec:
/// a 1.0 request (kept alive or not) and a 1.1 request whose `Connection` names `close` in any spelling get the
/// exact `Connection: close` the channel ends a connection on, and their answers say `Connection: close` (RFC 9112
/// §9.6); an answer to a 1.0 request also gets version 1.0. Requests on one connection are answered in order, so
/// what each asked for waits in a queue.
final class HTTP10Framing: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// What each request not yet answered asked for, oldest first.
    private var pending = Deque<Framing>()

    /// How one request's answer is framed.
    private struct Framing {
        /// The request was HTTP/1.0.
        var isHTTP10: Bool
        /// The connection ends after the answer.
        var closes: Bool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        let isHTTP10 = head.version.major == 1 && head.version.minor == 0
        let framing = Framing(isHTTP10: isHTTP10, closes: isHTTP10 || !head.isKeepAlive)
        pending.append(framing)
        if framing.closes {
            head.headers.replaceOrAdd(name: "connection", value: "close")
        }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .head(var head) = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        // An informational answer (1xx but 101, which ends the exchange) precedes the final one to the same request;
        // an HTTP/1.0 client gets none (RFC 9110 §15.2).
        if head.status.code < 200, head.status != .switchingProtocols {
            if pending.first?.isHTTP10 == true {
                promise?.succeed()
            } else {
                context.write(data, promise: promise)
            }
            return
        }
        guard let framing = pending.popFirst() else {
            context.write(data, promise: promise)
            return
        }
        if framing.isHTTP10 {
            head.version = .http1_0
            head.headers.remove(name: "transfer-encoding")
        }
        if framing.closes {
            head.headers.replaceOrAdd(name: "connection", value: "close")
        }
        context.write(wrapOutboundOut(.head(head)), promise: promise)
    }
}

extension HTTP10Framing {
    /// Puts an ``HTTP10Framing`` right behind NIO's request decoder when the channel adds it, which is where
    /// Hummingbird's additional handlers (placed after its own conversion to HTTP types) cannot go themselves.
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        /// Whatever the channel reads passes by unchanged (NIO takes only inbound or outbound handlers).
        typealias InboundIn = Any

        func handlerAdded(context: ChannelHandlerContext) {
            let pipeline = context.pipeline.syncOperations
            do {
                let decoder = try pipeline.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
                try pipeline.addHandler(HTTP10Framing(), position: .after(decoder.handler))
            } catch {
                // Without the request decoder this is not the HTTP/1 pipeline the console builds: a channel that
                // cannot be framed is closed rather than served wrongly.
                context.fireErrorCaught(error)
                context.close(promise: nil)
            }
        }
    }
}
