//! Reading a socket's addresses from the `struct sock` behind a file descriptor.

use sensor_common::NetEvent;

use crate::{
    kernel::{Current, Window, read_at},
    maps,
};

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// The `struct sock *` behind the task's `fd`, if it is a socket's.
#[inline(always)]
pub fn sock_of_fd(task: Current, fd: i64) -> Result<u64, i32> {
    let o = maps::offsets();
    let file = task.file_of_fd(fd)?;
    let socket: u64 = read_at(file, o.file_private_data)?;
    read_at(socket, o.socket_sk)
}

/// Fills family, protocol, ports and addresses of `event` from the socket behind
/// the task's `fd`. Only IPv4 and IPv6 sockets qualify.
#[inline(always)]
pub fn fill_from_fd(task: Current, fd: i64, event: &mut NetEvent) -> Result<(), i32> {
    fill_from_sock(sock_of_fd(task, fd)?, event)
}

/// Fills family, protocol, ports and addresses of `event` from the socket `sk`.
/// Only IPv4 and IPv6 sockets qualify. The IPv4 addresses, the ports and the
/// family open `struct sock_common`, and the two IPv6 addresses lie side by
/// side: each group is one read where the layout allows.
#[inline(always)]
pub fn fill_from_sock(sk: u64, event: &mut NetEvent) -> Result<(), i32> {
    let o = maps::offsets();
    let v4 = [
        o.skc_daddr,
        o.skc_rcv_saddr,
        o.skc_dport,
        o.skc_num,
        o.skc_family,
    ];
    let lo = v4.iter().copied().fold(u32::MAX, u32::min);
    let hi = v4.iter().copied().fold(0, u32::max) + 4;
    let (family, local_port, remote_port, local4, remote4) = match Window::read(sk, lo, hi) {
        Ok(w) => (
            w.u16_at(o.skc_family),
            w.u16_at(o.skc_num),
            w.u16_at(o.skc_dport),
            w.u32_at(o.skc_rcv_saddr).to_ne_bytes(),
            w.u32_at(o.skc_daddr).to_ne_bytes(),
        ),
        Err(_) => (
            read_at::<u16>(sk, o.skc_family)?,
            read_at(sk, o.skc_num).unwrap_or(0),
            read_at(sk, o.skc_dport).unwrap_or(0),
            read_at::<[u8; 4]>(sk, o.skc_rcv_saddr).unwrap_or_default(),
            read_at::<[u8; 4]>(sk, o.skc_daddr).unwrap_or_default(),
        ),
    };
    if family != AF_INET && family != AF_INET6 {
        return Err(-1);
    }
    event.family = family;
    event.protocol = read_at(sk, o.sk_protocol).unwrap_or(0);
    event.local_port = local_port;
    event.remote_port = u16::from_be(remote_port);
    if family == AF_INET {
        event.local_addr[..4].copy_from_slice(&local4);
        event.remote_addr[..4].copy_from_slice(&remote4);
    } else {
        let (local, remote) = (o.skc_v6_rcv_saddr, o.skc_v6_daddr);
        // An `in6_addr` need only be 4-byte aligned; the window reads words.
        let window = if (local | remote) & 7 == 0 {
            Window::read(sk, local.min(remote), local.max(remote) + 16)
        } else {
            Err(-1)
        };
        match window {
            Ok(w) => {
                event.local_addr = w.bytes16_at(local);
                event.remote_addr = w.bytes16_at(remote);
            }
            Err(_) => {
                event.local_addr = read_at(sk, local).unwrap_or_default();
                event.remote_addr = read_at(sk, remote).unwrap_or_default();
            }
        }
    }
    Ok(())
}
