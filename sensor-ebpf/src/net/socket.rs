//! Reading a socket's addresses from the `struct sock` behind a file descriptor.

use sensor_common::NetEvent;

use crate::{
    kernel::{file_of_fd, read_at},
    maps,
};

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// Fills family, protocol, ports and addresses of `event` from the socket behind
/// `fd` of `task`. Only IPv4 and IPv6 sockets qualify.
#[inline(always)]
pub fn fill_from_fd(task: u64, fd: i64, event: &mut NetEvent) -> Result<(), i32> {
    let o = maps::offsets();
    let file = file_of_fd(task, fd)?;
    let socket: u64 = read_at(file, o.file_private_data)?;
    let sk: u64 = read_at(socket, o.socket_sk)?;
    let family: u16 = read_at(sk, o.skc_family)?;
    if family != AF_INET && family != AF_INET6 {
        return Err(-1);
    }
    event.family = family;
    event.protocol = read_at(sk, o.sk_protocol).unwrap_or(0);
    event.local_port = read_at(sk, o.skc_num).unwrap_or(0);
    event.remote_port = u16::from_be(read_at(sk, o.skc_dport).unwrap_or(0));
    if family == AF_INET {
        let local: [u8; 4] = read_at(sk, o.skc_rcv_saddr).unwrap_or_default();
        let remote: [u8; 4] = read_at(sk, o.skc_daddr).unwrap_or_default();
        event.local_addr[..4].copy_from_slice(&local);
        event.remote_addr[..4].copy_from_slice(&remote);
    } else {
        event.local_addr = read_at(sk, o.skc_v6_rcv_saddr).unwrap_or_default();
        event.remote_addr = read_at(sk, o.skc_v6_daddr).unwrap_or_default();
    }
    Ok(())
}
