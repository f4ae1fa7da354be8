import Testing
@testable import Console

/// The console's `Host` check (DNS rebinding): names no outside site controls pass, every other name is refused
/// unless an operator listed it.
@Suite("Console hosts: which Host headers the console answers")
struct ConsoleHostsTests {
    @Test("with no list: IP addresses, localhost and names under it, and a missing header; no other name")
    func defaults() {
        let hosts = ConsoleHosts()
        for host in ["127.0.0.1:9474", "127.0.0.1", "10.1.2.3:80", "[::1]:9474", "[::1]", "[fe80::1%eth0]:9474", "localhost:9474",
                     "LOCALHOST", "console.localhost:8080", "localhost.", nil, ""] {
            #expect(hosts.admits(host: host), "\(host ?? "no header") is admitted")
        }
        for host in ["rebind.example:9474", "rebind.example", "127.0.0.1.rebind.example", "localhost.rebind.example", "256.1.1.1",
                     "1.2.3", "127.0.0.1:port", "[::1]x", "[::1", "exa mple", "١٢٧.0.0.1"] {
            #expect(!hosts.admits(host: host), "\(host) is refused")
        }
    }

    @Test("listed names pass with any port and in any case; a leading dot admits the names under it; * admits all")
    func listed() throws {
        let hosts = try ConsoleHosts.parse(" console.example.com , .ops.example.net,Proxy.Internal ")
        #expect(hosts.admits(host: "console.example.com:443"))
        #expect(hosts.admits(host: "CONSOLE.example.com"))
        #expect(hosts.admits(host: "proxy.internal"))
        #expect(hosts.admits(host: "ops.example.net"))
        #expect(hosts.admits(host: "a.b.ops.example.net:8443"))
        #expect(!hosts.admits(host: "other.example.com"))
        #expect(!hosts.admits(host: "evilops.example.net"), "a suffix only counts at a dot")
        #expect(!hosts.admits(host: "example.com"))
        #expect(try ConsoleHosts.parse("*").admits(host: "anything.example"))
        #expect(try ConsoleHosts.parse("") == ConsoleHosts())
    }

    @Test("a list entry that is not a host name is an error, not a pattern")
    func badLists() {
        for text in ["console.example.com/admin", "*.example.com", "exa mple.com", "http://x", "."] {
            #expect(throws: ConsoleHostsError.self, "\(text)") { try ConsoleHosts.parse(text) }
        }
    }
}
