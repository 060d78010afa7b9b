use serde::Serialize;

/// Where the traffic showed a value that threat intelligence can match: a name a client
/// asked for, or the fingerprint of a certificate. Addresses are not among them: every
/// connection shows its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservableKind {
    /// The name of a DNS query (its first question).
    DnsQuery,
    /// The `Host` header of an HTTP request.
    HttpHost,
    /// The server name (SNI) of a TLS ClientHello.
    TlsSni,
    /// The SHA-1 fingerprint of a TLS certificate (over its DER), lowercase hex.
    TlsCertSha1,
    /// The SHA-256 fingerprint of a TLS certificate (over its DER), lowercase hex.
    TlsCertSha256,
}

impl ObservableKind {
    /// The snake_case id of reports and descriptions.
    pub const fn id(self) -> &'static str {
        match self {
            ObservableKind::DnsQuery => "dns_query",
            ObservableKind::HttpHost => "http_host",
            ObservableKind::TlsSni => "tls_sni",
            ObservableKind::TlsCertSha1 => "tls_cert_sha1",
            ObservableKind::TlsCertSha256 => "tls_cert_sha256",
        }
    }

    /// A domain name (the others are certificate fingerprints).
    pub const fn is_name(self) -> bool {
        matches!(
            self,
            ObservableKind::DnsQuery | ObservableKind::HttpHost | ObservableKind::TlsSni
        )
    }
}
