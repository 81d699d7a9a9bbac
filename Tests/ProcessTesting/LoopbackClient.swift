#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// A blocking TCP client on loopback for tests of a server's connections: it sends raw requests, reads on a thread of
/// its own (so that the server's tasks keep the cooperative pool), gives up a read after 60 seconds (far past what a
/// loaded CI machine takes to answer, so that only a server that never answers fails it), and may take a small
/// receive buffer to play a client that stops reading.
public final class LoopbackClient: Sendable {
    private let descriptor = Mutex<Int32>(-1)

    /// What failed, with the system's error number.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public init() {}

    /// Connects to `port` on 127.0.0.1; `receiveBuffer` sets the socket's receive buffer, in bytes.
    public func connect(_ port: Int, receiveBuffer: Int32? = nil) throws {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw Failure(description: "socket: \(errno)") }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(socketDescriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if var size = receiveBuffer {
            setsockopt(socketDescriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            _ = Glibc.close(socketDescriptor)
            throw Failure(description: "connect: \(errno)")
        }
        descriptor.withLock { $0 = socketDescriptor }
    }

    /// Sends `text` whole.
    public func send(_ text: String) throws {
        let socketDescriptor = descriptor.withLock { $0 }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ Glibc.send(socketDescriptor, $0.baseAddress, $0.count, 0) }) == bytes.count else {
            throw Failure(description: "send: \(errno)")
        }
    }

    /// Reads until the text holds `marker`, or, with `nil`, until the server closes the connection, `chunk` bytes at
    /// a time.
    public func read(until marker: String?, chunk: Int = 4096) async throws -> String {
        let socketDescriptor = descriptor.withLock { $0 }
        return try await withCheckedThrowingContinuation { continuation in
            Thread {
                var received: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: chunk)
                while true {
                    let count = buffer.withUnsafeMutableBytes { recv(socketDescriptor, $0.baseAddress, $0.count, 0) }
                    if count == 0 { return continuation.resume(returning: String(decoding: received, as: UTF8.self)) }
                    guard count > 0 else {
                        return continuation.resume(throwing: Failure(description: "recv: \(errno) (a timeout is 11)"))
                    }
                    received += buffer[0..<count]
                    let text = String(decoding: received, as: UTF8.self)
                    if let marker, text.contains(marker) { return continuation.resume(returning: text) }
                }
            }.start()
        }
    }

    /// Closes the socket; later calls do nothing.
    public func close() {
        let socketDescriptor = descriptor.withLock { descriptor in
            defer { descriptor = -1 }
            return descriptor
        }
        if socketDescriptor >= 0 { _ = Glibc.close(socketDescriptor) }
    }
}
