//! Loopback ports. Tests never use 1883 or any fixed port: the Debian
//! packages run their own services there, and parallel tests would collide.

use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// A port that nobody listened on a moment ago: the kernel picks it when we
/// bind 127.0.0.1:0, and we release it at once. Another process may grab it
/// before our server binds it (a small race); the servers' `start` retries
/// once with a new port when the bind fails.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("binding 127.0.0.1:0 for a free port")
}

/// True once something accepts TCP connections on 127.0.0.1:`port`, false
/// if nothing did within `timeout`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(500),
        )
        .is_ok()
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}
