//! Sending many datagrams with one system call (`sendmmsg`): the copies one
//! published packet fans out to, and whatever else a round of the engine
//! produced, leave together instead of one `sendto` each.

use std::io::{self, IoSlice};
use std::net::SocketAddr;

use rustix::net::addr::SocketAddrArg;
use rustix::net::{sendmmsg, MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// The most datagrams handed to the kernel in one call.
pub const SEND_BATCH: usize = 64;

/// Sends the first up to [`SEND_BATCH`] of `datagrams` (address, bytes) in
/// one call; returns how many left, at least one. `WouldBlock` when the
/// socket's buffer is full (nothing left); another error belongs to the
/// first datagram, which the caller drops (the others were not tried).
pub fn send_batch<'a>(
    socket: &UdpSocket,
    datagrams: impl Iterator<Item = (SocketAddr, &'a [u8])>,
) -> io::Result<usize> {
    let batch: Vec<(SocketAddrAny, [IoSlice<'a>; 1])> =
        datagrams.take(SEND_BATCH).map(|(to, bytes)| (to.as_any(), [IoSlice::new(bytes)])).collect();
    if batch.is_empty() {
        return Ok(0);
    }
    let mut no_control: Vec<SendAncillaryBuffer> =
        batch.iter().map(|_| SendAncillaryBuffer::default()).collect();
    let mut messages: Vec<MMsgHdr> = batch
        .iter()
        .zip(&mut no_control)
        .map(|((to, bytes), control)| MMsgHdr::new_with_addr(to, bytes, control))
        .collect();
    socket.try_io(Interest::WRITABLE, || Ok(sendmmsg(socket, &mut messages, SendFlags::DONTWAIT)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_reaches_each_address_in_order_and_a_long_one_goes_in_parts() {
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let first = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let second = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (a, b) = (first.local_addr().unwrap(), second.local_addr().unwrap());
        let payloads: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
        let mut queued: Vec<(SocketAddr, &[u8])> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| (if i % 2 == 0 { a } else { b }, p.as_slice()))
            .collect();
        let mut calls = 0;
        while !queued.is_empty() {
            // (A new socket is not known writable until tokio has seen it so.)
            sender.writable().await.unwrap();
            let sent = match send_batch(&sender, queued.iter().copied()) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                sent => sent.unwrap(),
            };
            assert!((1..=SEND_BATCH).contains(&sent), "{sent}");
            queued.drain(..sent);
            calls += 1;
        }
        assert_eq!(calls, 2, "100 datagrams in two calls of at most {SEND_BATCH}");
        let mut buf = [0u8; 200];
        for (i, payload) in payloads.iter().enumerate() {
            let socket = if i % 2 == 0 { &first } else { &second };
            let (len, from) = socket.recv_from(&mut buf).await.unwrap();
            assert_eq!(from, sender.local_addr().unwrap());
            assert_eq!(&buf[..len], payload.as_slice(), "datagram {i}");
        }
    }
}
