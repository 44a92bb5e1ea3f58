//! Network events: what a connect, accept or listen did, and the Falco-style views
//! of its endpoints.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What happened on the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetOp {
    /// An outgoing connection: local is the client, remote the server.
    Connect,
    /// An accepted connection: local is the server, remote the client.
    Accept,
    /// A socket started listening: only the local side is set.
    Listen,
    /// A socket was bound to a local address: only the local side is set.
    Bind,
}

/// A network event on an IPv4 or IPv6 socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Net {
    /// What happened.
    pub op: NetOp,
    /// `IPPROTO_*` (6 TCP, 17 UDP); 0 if unknown.
    pub protocol: u16,
    /// The local endpoint (port 0 if not bound yet).
    pub local: SocketAddr,
    /// The remote endpoint (unspecified for a listener).
    pub remote: SocketAddr,
    /// The syscall's result: 0 or a file descriptor, or a negative errno.
    pub result: i64,
}

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// An endpoint from the kernel's family, network-order address bytes and port.
/// `None` for a family other than IPv4 and IPv6.
pub fn endpoint(family: u16, addr: [u8; 16], port: u16) -> Option<SocketAddr> {
    let ip = match family {
        AF_INET => IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])),
        AF_INET6 => IpAddr::V6(Ipv6Addr::from(addr)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

impl Net {
    /// Falco's `fd.type`: `ipv4` or `ipv6`.
    pub fn fd_type(&self) -> &'static str {
        if self.local.is_ipv4() { "ipv4" } else { "ipv6" }
    }

    /// Falco's `fd.typechar` of a socket: `4` (IPv4) or `6` (IPv6).
    pub fn typechar(&self) -> &'static str {
        if self.local.is_ipv4() { "4" } else { "6" }
    }

    /// Whether the socket is connected (Falco's `fd.connected`): a connect that
    /// succeeded or is in progress, or an accept that succeeded.
    pub fn connected(&self) -> bool {
        const EINPROGRESS: i64 = -(libc::EINPROGRESS as i64);
        match self.op {
            NetOp::Connect => self.result == 0 || self.result == EINPROGRESS,
            NetOp::Accept => self.result >= 0,
            NetOp::Listen | NetOp::Bind => false,
        }
    }

    /// Falco's `fd.l4proto`: `tcp`, `udp`, `icmp`, `raw`, or `unknown`.
    pub fn l4proto(&self) -> &'static str {
        match self.protocol {
            6 => "tcp",
            17 => "udp",
            1 | 58 => "icmp",
            255 => "raw",
            _ => "unknown",
        }
    }

    /// The client and server endpoints, as Falco's `fd.c*`/`fd.s*` fields see them.
    pub fn client_server(&self) -> Option<(SocketAddr, SocketAddr)> {
        match self.op {
            NetOp::Connect => Some((self.local, self.remote)),
            NetOp::Accept => Some((self.remote, self.local)),
            NetOp::Listen | NetOp::Bind => None,
        }
    }

    /// Falco's `fd.name`: `client->server`, or the local endpoint of a listener or
    /// a bound socket.
    pub fn fd_name(&self) -> String {
        let mut name = String::new();
        self.write_fd_name(&mut name);
        name
    }

    /// [`Self::fd_name`] into a reused buffer (the rules engine allocates nothing).
    pub fn write_fd_name(&self, out: &mut String) {
        use std::fmt::Write as _;
        // Writing to a String cannot fail.
        let _ = match self.client_server() {
            Some((client, server)) => write!(out, "{client}->{server}"),
            None => write!(out, "{}", self.local),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_names_follow_falco() {
        let mut v4 = [0u8; 16];
        v4[..4].copy_from_slice(&[10, 0, 0, 1]);
        let server = endpoint(AF_INET, v4, 443).expect("ipv4");
        let client = endpoint(AF_INET, [0; 16], 50000).expect("ipv4");
        let connect = Net {
            op: NetOp::Connect,
            protocol: 6,
            local: client,
            remote: server,
            result: 0,
        };
        assert_eq!(connect.fd_name(), "0.0.0.0:50000->10.0.0.1:443");
        assert_eq!((connect.fd_type(), connect.l4proto()), ("ipv4", "tcp"));
        let accept = Net {
            op: NetOp::Accept,
            ..connect.clone()
        };
        assert_eq!(accept.client_server(), Some((server, client)));
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        let listen = Net {
            op: NetOp::Listen,
            protocol: 17,
            local: endpoint(AF_INET6, v6, 53).expect("ipv6"),
            remote: endpoint(AF_INET6, [0; 16], 0).expect("ipv6"),
            result: 0,
        };
        assert_eq!(listen.fd_name(), "[::1]:53");
        assert_eq!((listen.fd_type(), listen.l4proto()), ("ipv6", "udp"));
        assert_eq!(endpoint(1, [0; 16], 0), None);
    }
}
