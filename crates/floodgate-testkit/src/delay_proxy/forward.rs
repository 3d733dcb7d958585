//! One forwarded connection: dialling the target, then a reader and a
//! writer thread for each direction, joined by a bounded queue of
//! timestamped chunks.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use super::shared::{close, spawn, Shared, CHUNK, CONNECT_TIMEOUT, POLL, QUEUE_CHUNKS};

/// Connects to the target and starts the four forwarding threads.
pub(super) fn connect(client: TcpStream, id: u64, closed: Arc<AtomicBool>, shared: &Arc<Shared>) {
    let Some(link) = dial(&client, id, closed, shared) else {
        shared.forget(id);
        return close(&client);
    };
    let link = Arc::new(link);
    let directions = [
        (&link.client, &link.server, "c2s"),
        (&link.server, &link.client, "s2c"),
    ];
    for (from, to, name) in directions {
        let (tx, rx) = sync_channel(QUEUE_CHUNKS);
        let streams = from.try_clone().and_then(|f| Ok((f, to.try_clone()?)));
        let Ok((from, to)) = streams else {
            return link.kill();
        };
        let (reader_link, writer_link) = (Arc::clone(&link), Arc::clone(&link));
        let reader = spawn(&format!("delay-proxy-{name}-read"), move || {
            read_side(from, &tx, &reader_link)
        });
        let writer = spawn(&format!("delay-proxy-{name}-write"), move || {
            write_side(to, &rx, &writer_link)
        });
        if reader.is_err() || writer.is_err() {
            return link.kill();
        }
    }
}

/// Opens the server side and records it, unless the proxy was cut (or
/// dropped) meanwhile.
fn dial(
    client: &TcpStream,
    id: u64,
    closed: Arc<AtomicBool>,
    shared: &Arc<Shared>,
) -> Option<Link> {
    let server = TcpStream::connect_timeout(&shared.target, CONNECT_TIMEOUT).ok()?;
    let _ = server.set_nodelay(true);
    let link = Link {
        id,
        shared: Arc::clone(shared),
        client: client.try_clone().ok()?,
        server: server.try_clone().ok()?,
        closed,
    };
    let mut reg = shared.registry();
    // Gone: cut, or the proxy dropped, while connecting.
    let entry = reg.live.get_mut(&id)?;
    entry.server = Some(server);
    drop(reg);
    Some(link)
}

/// One forwarded connection, shared by its four threads; the last one out
/// unregisters it.
struct Link {
    id: u64,
    shared: Arc<Shared>,
    client: TcpStream,
    server: TcpStream,
    closed: Arc<AtomicBool>,
}

impl Link {
    fn kill(&self) {
        self.closed.store(true, Ordering::SeqCst);
        close(&self.client);
        close(&self.server);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.kill();
        self.shared.forget(self.id);
    }
}

enum Chunk {
    Data(Instant, Vec<u8>),
    Eof(Instant),
}

fn read_side(mut from: TcpStream, tx: &SyncSender<Chunk>, link: &Link) {
    let mut buf = vec![0; CHUNK];
    loop {
        let read = from.read(&mut buf);
        let due = Instant::now() + link.shared.delay();
        let chunk = match read {
            Ok(0) => Chunk::Eof(due),
            Ok(n) => Chunk::Data(due, buf[..n].to_vec()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // A reset or a cut: the peer is gone, pass its end on.
            Err(_) => Chunk::Eof(due),
        };
        let eof = matches!(chunk, Chunk::Eof(_));
        if tx.send(chunk).is_err() || eof {
            return;
        }
    }
}

fn write_side(mut to: TcpStream, rx: &Receiver<Chunk>, link: &Link) {
    // A queue left without an EOF means its reader died: end the stream.
    while let Ok(chunk) = rx.recv() {
        let due = match &chunk {
            Chunk::Data(due, _) | Chunk::Eof(due) => *due,
        };
        if !sleep_until(due, link) {
            return;
        }
        match chunk {
            Chunk::Data(_, bytes) => {
                if to.write_all(&bytes).is_err() {
                    return link.kill();
                }
            }
            Chunk::Eof(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Sleeps until `due` in short steps; false if the link closed meanwhile.
fn sleep_until(due: Instant, link: &Link) -> bool {
    loop {
        if link.is_closed() {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        thread::sleep((due - now).min(POLL));
    }
}
