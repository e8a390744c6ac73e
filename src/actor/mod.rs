//! The effects tier's tasks: bind listeners, dispatch, drive machines with the clock, drain on shutdown.

pub mod calls;
pub mod clock;
pub mod dispatcher;
pub mod endpoint_task;
pub mod lateness;
pub mod leg_b;
pub mod pinger;
pub mod shutdown;
pub mod timer_queue;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::config::{self, Config};
use crate::net::resolve::Resolver;
use crate::net::tcp::{run_listener, TcpContext};
use crate::net::tls::TlsMaterial;
use crate::net::{udp, Connections, Outbound, Sink};

pub use shutdown::Shutdown;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {transport} {address}: {source}")]
    Bind { transport: &'static str, address: std::net::SocketAddr, source: std::io::Error },
}

/// Binds every listener, serves until `stop` fires, then drains. `tls` is `TlsMaterial::load(&config)`.
pub async fn run(
    config: Config,
    tls: TlsMaterial,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    // Two stages: calls end first (their BYEs need the transports), then the transports stop.
    let (shutdown, rx) = Shutdown::new();
    let connections = Connections::new();
    let mut udp_sockets = Vec::new();
    let mut tcp_listeners = Vec::new();
    let mut tls_listeners = Vec::new();
    for (listen, acceptor) in config.listen.iter().zip(&tls.acceptors) {
        let bind_err =
            |source| RunError::Bind { transport: listen.transport.as_str(), address: listen.address, source };
        match (listen.transport, acceptor) {
            (config::Transport::Udp, _) => {
                udp_sockets.push(udp::bind(listen.address).await.map_err(bind_err)?)
            }
            (config::Transport::Tcp, _) => {
                tcp_listeners.push(TcpListener::bind(listen.address).await.map_err(bind_err)?)
            }
            (config::Transport::Tls, Some(acceptor)) => {
                let listener = TcpListener::bind(listen.address).await.map_err(bind_err)?;
                tls_listeners.push((listener, acceptor.clone()));
            }
            (config::Transport::Tls, None) => {
                let missing = std::io::Error::new(std::io::ErrorKind::InvalidInput, "no certificate loaded");
                return Err(bind_err(missing));
            }
        }
    }
    tracing::info!(
        system_roots = tls.roots.system,
        ca_file_roots = tls.roots.ca_file,
        "trust anchors for outbound TLS"
    );
    for problem in &tls.roots.system_errors {
        tracing::debug!(%problem, "reading the system's trust store");
    }

    // The dispatcher needs the outbound path and the TCP tasks need the dispatcher: tie the knot once.
    let sink_slot: Arc<std::sync::OnceLock<Arc<dyn Sink>>> = Arc::new(std::sync::OnceLock::new());
    let tcp = TcpContext {
        connections,
        sink: Arc::new(LateSink(Arc::clone(&sink_slot))),
        idle: Duration::from_secs(config.limits.tcp_idle_timeout),
        max_connections: config.limits.max_tcp_connections,
        shutdown: rx.clone(),
    };
    let outbound = Outbound::new(udp_sockets.clone(), tcp.clone(), tls.connector.clone());
    let endpoint = endpoint_task::spawn(outbound.clone(), rx.clone());
    let router = crate::proto::router::Router::new(&config);
    let listeners = leg_b::Listeners {
        udp: udp_sockets.iter().filter_map(|s| s.local_addr().ok()).collect(),
        tcp: tcp_listeners.iter().filter_map(|l| l.local_addr().ok()).collect(),
        tls: tls_listeners.iter().filter_map(|(l, _)| l.local_addr().ok()).collect(),
        advertise: config.advertise.as_deref().and_then(crate::sip::HostPort::parse),
    };
    let resolver = match &config.dns {
        Some(dns) if !dns.servers.is_empty() => crate::net::resolve::Resolver::with_nameservers(&dns.servers),
        _ => system_resolver(),
    };
    let mut tasks = JoinSet::new();
    let pinger_ctx = pinger::PingerContext {
        outbound: outbound.clone(),
        listeners: listeners.clone(),
        resolver: resolver.clone(),
        health: router.health().clone(),
        shutdown: rx.clone(),
    };
    let pinger = pinger::Pinger::new(&config, pinger_ctx).map(|(pinger, mailbox)| {
        tasks.spawn(pinger.run());
        mailbox
    });
    let lateness = Arc::new(lateness::Lateness::default());
    let call_ctx = leg_b::CallContext { outbound, listeners, lateness: Arc::clone(&lateness), resolver };
    let calls = calls::Calls::new(call_ctx, config.limits.max_calls);
    // Timers run until the transports stop: calls ending at shutdown still retransmit and time out.
    tasks.spawn(Arc::clone(&calls).run_timers(rx.clone()));
    let dispatcher: Arc<dyn Sink> = dispatcher::Dispatcher::new(router, endpoint, Arc::clone(&calls), pinger);
    let _ = sink_slot.set(Arc::clone(&dispatcher));

    for socket in udp_sockets {
        tracing::info!(address = %socket.local_addr().map(|a| a.to_string()).unwrap_or_default(), "listening on udp");
        tasks.spawn(udp::run(socket, Arc::clone(&dispatcher), rx.clone()));
    }
    for listener in tcp_listeners {
        tracing::info!(address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "listening on tcp");
        tasks.spawn(run_listener(listener, None, tcp.clone()));
    }
    for (listener, acceptor) in tls_listeners {
        tracing::info!(address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "listening on tls");
        tasks.spawn(run_listener(listener, Some(acceptor), tcp.clone()));
    }

    if config.limits.stats_interval > 0 {
        let every = Duration::from_secs(config.limits.stats_interval);
        let tables =
            Tables { calls: Arc::clone(&calls), connections: Arc::clone(&tcp.connections), lateness };
        tasks.spawn(report_stats(tables, every, rx.clone()));
    }

    stop.await;
    calls.shutdown();
    // Calls end on both legs (BYE, CANCEL, final answers) before the transports close.
    let calls_done = async {
        while calls.live() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(3), calls_done).await.is_err() {
        tracing::warn!(live = calls.live(), "calls still ending at shutdown");
    }
    shutdown.trigger();
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain).await.is_err() {
        tracing::warn!("tasks still running after 5 s; stopping anyway");
    }
    Ok(())
}

/// The daemon's one RFC 3263 resolver (shared cache). `Resolver::from_system` already falls back to
/// hickory's defaults when the system configuration cannot be read; should it still fail, say so and use
/// those defaults here.
fn system_resolver() -> Resolver {
    Resolver::from_system().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot build the system DNS resolver; using hickory's default name servers");
        Resolver::public_defaults()
    })
}

/// Logs the size of every table now and then, so that "nothing is left behind" can be seen from outside.
struct Tables {
    calls: Arc<calls::Calls>,
    connections: Arc<Connections>,
    lateness: Arc<lateness::Lateness>,
}

async fn report_stats(tables: Tables, every: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let Tables { calls, connections, lateness } = tables;
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let tls = connections.count_of(config::Transport::Tls);
        tracing::info!(
            target: "sst_b2bua::stats",
            live_calls = calls.live(),
            index_entries = calls.entries(),
            timers_queued = calls.timers_queued(),
            tcp_connections = connections.open_count().saturating_sub(tls),
            tls_connections = tls,
            timer_wakeups = lateness.quantile(0.5).1,
            timer_late_p50_ms = lateness.quantile(0.5).0.as_secs_f64() * 1e3,
            timer_late_p99_ms = lateness.quantile(0.99).0.as_secs_f64() * 1e3,
            timer_late_max_ms = lateness.max().as_secs_f64() * 1e3,
            "stats"
        );
    }
}

/// A sink filled in after construction (the dispatcher), so transports and dispatcher can refer to
/// each other without a cycle at build time.
struct LateSink(Arc<std::sync::OnceLock<Arc<dyn Sink>>>);

impl Sink for LateSink {
    fn on_message(&self, inbound: crate::net::Inbound) {
        if let Some(sink) = self.0.get() {
            sink.on_message(inbound);
        }
    }
}
