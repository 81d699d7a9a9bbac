import Foundation
public import Hummingbird
import NIOCore
import Whizbang

extension StoreConsole {
    /// Adds the console's routes, and its security, access-token (or, without a token, loopback-host) and not-found
    /// middleware, to `router`.
    ///
    /// Pages: `/`, `/streams`, `/stream?id=`, `/log`, `/events/{position}`, `/messages/{id}`, `/projections`,
    /// `/cluster`, `/login`.
    /// API (JSON): `/api/overview`, `/api/head`, `/api/streams`, `/api/stream?id=`, `/api/log`,
    /// `/api/events/{position}`, `/api/messages/{id}`, `/api/projections`, `/api/cluster`, `/api/live` (server-sent
    /// events).
    /// Operations: `/metrics` (Prometheus text), `/health/live`, `/health/ready`.
    ///
    /// With ``ConsoleRequestContext`` as the router's context, a live stream or JSON answer whose write waits for a
    /// client that stopped reading is ended, with its connection, when its time is up or graceful shutdown begins
    /// (see ``ConsoleConfiguration/maximumLiveDuration``); with another context it is not.
    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: NotFoundMiddleware())
        if let token = configuration.accessToken {
            router.add(middleware: AccessTokenMiddleware(token: token))
        } else {
            router.add(middleware: LoopbackHostMiddleware())
        }
        addPages(to: router)
        addAPI(to: router)
        addOperations(to: router)
    }

    private func addPages<Context: RequestContext>(to router: Router<Context>) {
        let reader = reader
        let configuration = configuration
        router.read("/") { _, _ in
            await Self.page { () async throws(ConsoleRequestError) in ConsolePages.overview(try await reader.overview()) }
        }
        router.read("/streams") { request, _ in
            await Self.page { () throws(ConsoleRequestError) in
                ConsolePages.streams(try reader.streams(QueryParameters(request, configuration: configuration)))
            }
        }
        router.read("/stream") { request, _ in
            await Self.page { () async throws(ConsoleRequestError) in
                ConsolePages.stream(
                    try await reader.stream(QueryParameters(request, configuration: configuration), bodies: false))
            }
        }
        router.read("/log") { request, _ in
            await Self.page { () async throws(ConsoleRequestError) in
                ConsolePages.log(
                    try await reader.log(QueryParameters(request, configuration: configuration), bodies: false))
            }
        }
        router.read("/events/:position") { _, context in
            let position = context.parameters.get("position") ?? ""
            return await Self.page { () async throws(ConsoleRequestError) in
                ConsolePages.event(try await reader.event(position))
            }
        }
        router.read("/cluster") { _, _ in
            await Self.page { () async throws(ConsoleRequestError) in ConsolePages.cluster(try await reader.cluster()) }
        }
        router.read("/messages/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            return await Self.page { () async throws(ConsoleRequestError) in
                ConsolePages.event(try await reader.message(id))
            }
        }
        router.read("/projections") { _, _ in
            await Self.page { () async throws(ConsoleRequestError) in
                ConsolePages.projections(try await reader.projections())
            }
        }
        router.read("/assets/console.css") { _, _ in
            var response = ConsoleResponses.text(ConsoleAssets.stylesheet, contentType: "text/css; charset=utf-8")
            response.headers[.cacheControl] = "max-age=300"
            return response
        }
        router.read("/assets/console.js") { _, _ in
            var response = ConsoleResponses.text(
                ConsoleAssets.script, contentType: "text/javascript; charset=utf-8")
            response.headers[.cacheControl] = "max-age=300"
            return response
        }
        router.read("/login") { _, _ in
            guard configuration.accessToken != nil else { return ConsoleResponses.redirect(to: "/") }
            return ConsoleResponses.html(ConsolePages.login(failed: false))
        }
        router.post("/login") { request, _ in
            guard let token = configuration.accessToken else { return ConsoleResponses.redirect(to: "/") }
            guard let body = try await Self.collect(request.body, within: configuration.loginBodyTimeout) else {
                let message = "the sign-in form did not arrive within \(configuration.loginBodyTimeout)"
                return ConsoleResponses.pageError(ConsoleRequestError(status: .requestTimeout, message: message))
            }
            let given = Self.formValue("token", in: String(buffer: body))
            guard let given, AccessTokenMiddleware<Context>.same(given, token) else {
                return ConsoleResponses.html(ConsolePages.login(failed: true), status: .unauthorized)
            }
            var response = ConsoleResponses.redirect(to: "/")
            response.headers[.setCookie] =
                "\(AccessTokenMiddleware<Context>.cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict"
            return response
        }
    }

    private func addAPI<Context: RequestContext>(to router: Router<Context>) {
        let reader = reader
        let configuration = configuration
        let liveStreams = liveStreams
        router.read("/api/overview") { _, context in
            await Self.api(context, configuration) { () async throws(ConsoleRequestError) in try await reader.overview() }
        }
        router.read("/api/head") { _, context in
            await Self.api(context, configuration) { () async throws(ConsoleRequestError) in try await reader.head() }
        }
        router.read("/api/streams") { request, context in
            await Self.api(context, configuration) { () throws(ConsoleRequestError) in
                try reader.streams(QueryParameters(request, configuration: configuration))
            }
        }
        router.read("/api/stream") { request, context in
            await Self.api(context, configuration) { () async throws(ConsoleRequestError) in
                try await reader.stream(QueryParameters(request, configuration: configuration))
            }
        }
        router.read("/api/log") { request, context in
            await Self.api(context, configuration) { () async throws(ConsoleRequestError) in
                try await reader.log(QueryParameters(request, configuration: configuration))
            }
        }
        router.read("/api/events/:position") { _, context in
            let position = context.parameters.get("position") ?? ""
            return await Self.api(context, configuration) { () async throws(ConsoleRequestError) in try await reader.event(position) }
        }
        router.read("/api/cluster") { _, context in
            await Self.api(context, configuration) { () async throws(ConsoleRequestError) in try await reader.cluster() }
        }
        router.read("/api/messages/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            return await Self.api(context, configuration) { () async throws(ConsoleRequestError) in try await reader.message(id) }
        }
        router.read("/api/projections") { _, context in
            await Self.api(context, configuration) { () async throws(ConsoleRequestError) in try await reader.projections() }
        }
        router.read("/api/live") { request, context in
            do throws(ConsoleRequestError) {
                let live = LiveUpdates(reader: reader, configuration: configuration, streams: liveStreams)
                return try await live.response(
                    QueryParameters(request, configuration: configuration),
                    lastEventID: request.headers[.lastEventID], connection: Self.connection(context))
            } catch {
                return ConsoleResponses.apiError(error)
            }
        }
    }

    private func addOperations<Context: RequestContext>(to router: Router<Context>) {
        let reader = reader
        let configuration = configuration
        let metrics = metrics
        router.read("/metrics") { _, _ in
            if let projections = try? await reader.projections() {
                metrics.record(projections: projections)
                metrics.record(storeAnswered: true, at: reader.now())
            } else {
                metrics.record(storeAnswered: false)
            }
            return ConsoleResponses.text(
                metrics.exposition(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.read("/health/live") { _, _ in
            ConsoleResponses.json(HealthView(status: "live", checks: ["the process answers"]))
        }
        router.read("/health/ready") { _, _ in
            var problems: [String] = []
            do throws(ConsoleRequestError) {
                let projections = try await reader.projections()
                for projection in projections where projection.lagEvents > configuration.maximumReadyLag {
                    problems.append(
                        "projection \(projection.name) is \(projection.lagEvents) events behind (at most "
                            + "\(configuration.maximumReadyLag) allowed)")
                }
                for projection in projections where projection.runner == "failed" {
                    problems.append("projection \(projection.name) failed: \(projection.error ?? "no error given")")
                }
            } catch {
                problems.append("the store is not reachable: \(error.message)")
            }
            problems += configuration.readinessProblems?() ?? []
            guard problems.isEmpty else {
                return ConsoleResponses.json(HealthView(status: "unready", checks: problems), status: .serviceUnavailable)
            }
            return ConsoleResponses.json(
                HealthView(
                    status: "ready",
                    checks: ["the store answers", "\(configuration.projections.count) projections within the lag"]))
        }
    }

    private static func page(
        _ render: () async throws(ConsoleRequestError) -> String
    ) async -> Response {
        do throws(ConsoleRequestError) {
            return ConsoleResponses.html(try await render())
        } catch {
            return ConsoleResponses.pageError(error)
        }
    }

    /// A JSON answer, whose writes are bounded (``ResponseWriteLimit``) by graceful shutdown and by
    /// ``ConsoleConfiguration/maximumLiveDuration``: a page of events with their payloads can be far larger than what
    /// the connection holds for a client that stops reading.
    private static func api<Value: Encodable>(
        _ context: some RequestContext,
        _ configuration: ConsoleConfiguration,
        _ read: () async throws(ConsoleRequestError) -> Value
    ) async -> Response {
        let deadline = ContinuousClock.now + configuration.maximumLiveDuration
        var response: Response
        do throws(ConsoleRequestError) {
            response = ConsoleResponses.json(try await read())
        } catch {
            response = ConsoleResponses.apiError(error)
        }
        response.body = ResponseWriteLimit.body(response.body, deadline: deadline, connection: connection(context))
        return response
    }

    /// The request's connection, when its context keeps it (``ConsoleRequestContext``).
    private static func connection(_ context: some RequestContext) -> (any Channel)? {
        (context as? ConsoleRequestContext)?.channel
    }

    /// The body (at most 4 KiB, or Hummingbird's 413), or `nil` when it has not arrived whole within `timeout`.
    private static func collect(_ body: RequestBody, within timeout: Duration) async throws -> ByteBuffer? {
        try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await body.collect(upTo: 4096) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            // The loser is cancelled: a body still arriving then ends, so the group does not wait for it.
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    /// The value of `name` in an `application/x-www-form-urlencoded` body.
    static func formValue(_ name: String, in body: String) -> String? {
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name else { continue }
            return String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
        }
        return nil
    }
}
