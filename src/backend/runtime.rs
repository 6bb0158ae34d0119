//! The pure-Rust drivers of PostgreSQL (tokio-postgres) and MySQL/MariaDB (mysql_async),
//! driven synchronously: diesel-async's `AsyncConnectionWrapper` implements diesel's sync
//! `Connection` over them, so the backends use diesel as they would with libpq or
//! libmysqlclient, and the binary needs no database client library.
//!
//! Each connection owns a single-threaded tokio runtime (I/O and timers), the one its
//! socket was opened on: connections are opened here, then handed to the wrapper with
//! their runtime, so that the driver's own options (TLS, sockets, timeouts) can be set
//! rather than only what a URL can say.

use std::cell::RefCell;
use std::future::Future;

use diesel_async::async_connection_wrapper::{AsyncConnectionWrapper, BlockOn};

use super::{DriverError, ErrorKind};

/// A diesel sync connection over an async driver connection and its runtime.
pub(crate) type Wrapped<C> = AsyncConnectionWrapper<C, OwnRuntime>;

/// The runtime a wrapped connection blocks on.
pub(crate) struct OwnRuntime(tokio::runtime::Runtime);

thread_local! {
    /// The runtime [`open`] hands to the wrapper it builds.
    static HANDED_OVER: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

fn new_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()
}

impl BlockOn for OwnRuntime {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }

    /// The runtime [`open`] used, or (for `Connection::establish`, which strata does not
    /// use) a new one.
    fn get_runtime() -> Self {
        let runtime = HANDED_OVER.with(|slot| slot.borrow_mut().take());
        // Building a current-thread runtime fails only when the process cannot create the
        // event fd or epoll instance: nothing can connect then.
        OwnRuntime(runtime.unwrap_or_else(|| new_runtime().expect("cannot create an I/O event loop")))
    }
}

/// Opens a connection with `connect` on a new runtime and wraps it, with that runtime, as a
/// diesel sync connection.
pub(crate) fn open<C, F>(connect: impl FnOnce() -> F) -> Result<Wrapped<C>, DriverError>
where
    C: diesel_async::AsyncConnection,
    F: Future<Output = Result<C, DriverError>>,
{
    let runtime = new_runtime().map_err(|error| {
        DriverError::new(ErrorKind::ConnectionLost, None, &format!("cannot create an I/O event loop: {error}"), error)
    })?;
    let inner = runtime.block_on(connect())?;
    HANDED_OVER.with(|slot| *slot.borrow_mut() = Some(runtime));
    Ok(Wrapped::from(inner))
}
