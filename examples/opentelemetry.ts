/**
 * One login, traced with OpenTelemetry through `@effect/opentelemetry`: every span of the
 * library (the TCP connect, the version exchange, the key exchange and its host-key check,
 * the strategy, each attempt and request) goes to the span processor you give it.
 *
 *     npx vite-node examples/opentelemetry.ts deploy 192.0.2.10 22 ~/.ssh/id_ed25519 SHA256:…
 *
 * prints each span as it ends (`ConsoleSpanExporter`); put an OTLP exporter there to send
 * them to a collector. test/tracing/SpanTree.test.ts runs `layerTracing` with an in-memory
 * exporter and checks the tree of one login.
 */
import * as OtelResource from "@effect/opentelemetry/Resource"
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as AuthStrategy from "../src/AuthStrategy.js"
import * as AuthHandler from "../src/handler/AuthHandler.js"
import * as PrivateKeySource from "../src/sources/PrivateKey.js"
import { pinned } from "../src/transport/HostKeyPolicy.js"
import { layerTcp } from "../src/transport/TcpTransport.js"

/** Effect's tracer, backed by an OpenTelemetry provider that hands every ended span to `exporter`. */
export const layerTracing = (exporter: SpanExporter, serviceName = "ssh-login"): Layer.Layer<OtelTracer.OtelTracer> =>
  OtelTracer.layer.pipe(
    Layer.provide(OtelResource.layer({ serviceName })),
    Layer.provide(Layer.scoped(
      OtelTracer.OtelTracerProvider,
      Effect.acquireRelease(
        Effect.sync(() => new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })),
        (provider) => Effect.promise(() => provider.shutdown())
      )
    ))
  )

/** A login by key, in a span of its own, the host key pinned. */
export const login = (options: { user: string; host: string; port: number; keyPath: string; hostKey: string }) =>
  AuthStrategy.authenticate(AuthStrategy.make(PrivateKeySource.onDisk({ username: options.user, path: options.keyPath }))).pipe(
    Effect.provide(AuthHandler.layer.pipe(
      Layer.provide(layerTcp({ host: options.host, port: options.port, hostKeyPolicy: pinned([options.hostKey]) }))
    )),
    // The key file is read through the platform's FileSystem.
    Effect.provide(NodeFileSystem.layer),
    Effect.withSpan("login", { attributes: { user: options.user, host: options.host } })
  )

if (import.meta.url === `file://${process.argv[1]}`) {
  const [user, host, port, keyPath, hostKey] = process.argv.slice(2)
  if (!user || !host || !port || !keyPath || !hostKey) {
    console.error("usage: opentelemetry.ts USER HOST PORT KEY_FILE SHA256:HOST_KEY_FINGERPRINT")
    process.exit(2)
  }
  Effect.runPromise(
    login({ user, host, port: Number(port), keyPath, hostKey }).pipe(Effect.provide(layerTracing(new ConsoleSpanExporter())))
  ).then((result) => console.log(String(result)), (e) => {
    console.error(String(e))
    process.exitCode = 1
  })
}
