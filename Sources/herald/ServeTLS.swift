import HeraldHTTP
import HummingbirdCore
import HummingbirdHTTP2
import NIOSSL

/// HTTPS for `herald serve`: a PEM certificate chain and private key. ALPN offers HTTP/2 (one
/// connection carries every stream of a page, where HTTP/1.1 browsers stop at 6 per origin)
/// and HTTP/1.1 for older clients.
enum ServeTLS {
    /// Reads the files, or says which one is unusable and why.
    static func configuration(certificate: String, key: String) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate)
        } catch {
            throw ConfigurationError("TLS certificate \(certificate): \(error)")
        }
        guard !chain.isEmpty else { throw ConfigurationError("TLS certificate \(certificate): no certificate in the file") }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw ConfigurationError("TLS key \(key): \(error)")
        }
        return TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(privateKey)
        )
    }

    /// The HTTPS server: ALPN offers h2 and http/1.1; hub requests, in HTTP/2 streams or on
    /// HTTP/1.1, are answered on the event loop (`.herald(_:tls:)`), everything else goes to the
    /// router.
    static func server(_ configuration: TLSConfiguration, endpoint: HeraldEndpoint) throws -> HTTPServerBuilder {
        var configuration = configuration
        configuration.applicationProtocols = ["h2", "http/1.1"]
        let context = try NIOSSLContext(configuration: configuration)
        return .herald(endpoint, tls: { NIOSSLServerHandler(context: context) })
    }
}
