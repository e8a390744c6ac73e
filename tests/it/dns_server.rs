//! A tiny authoritative DNS server for the resolver tests: answers from a table of records (NAPTR, SRV, A,
//! AAAA) over UDP and TCP on one 127.0.0.1 port, and counts the queries it gets per (name, type).
//!
//! A name in the table with no record of the asked type gets an empty NOERROR answer, any other name
//! NXDOMAIN; both carry an SOA whose TTL and minimum are the zone's negative TTL (RFC 2308), so that a
//! resolver can cache the "no". The wire format is hickory-proto's: nothing is encoded by hand here.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, NAPTR, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Without EDNS a UDP answer must fit in 512 bytes (RFC 1035 §4.2.1); larger ones are truncated (TC).
const UDP_LIMIT: usize = 512;

fn name(text: &str) -> Name {
    let mut name = Name::from_str(text).expect("a valid DNS name");
    name.set_fqdn(true);
    name
}

/// The counting key of a name: lower case, absolute.
fn key(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

/// The records a [`DnsServer`] answers from. Each record takes the TTL set when it is added.
#[derive(Clone)]
pub struct Zone {
    records: Vec<Record>,
    ttl: u32,
    negative_ttl: u32,
}

impl Zone {
    pub fn new() -> Zone {
        Zone { records: Vec::new(), ttl: 300, negative_ttl: 300 }
    }

    /// The TTL of the records added after this call.
    pub fn ttl(mut self, ttl: u32) -> Zone {
        self.ttl = ttl;
        self
    }

    /// The TTL of "no such record" answers (the SOA's TTL and minimum).
    pub fn negative_ttl(mut self, ttl: u32) -> Zone {
        self.negative_ttl = ttl;
        self
    }

    fn add(mut self, owner: &str, rdata: RData) -> Zone {
        self.records.push(Record::from_rdata(name(owner), self.ttl, rdata));
        self
    }

    pub fn naptr(
        self,
        owner: &str,
        order: u16,
        preference: u16,
        flags: &str,
        services: &str,
        replacement: &str,
    ) -> Zone {
        let rdata = NAPTR::new(
            order,
            preference,
            flags.as_bytes().into(),
            services.as_bytes().into(),
            Box::default(),
            name(replacement),
        );
        self.add(owner, RData::NAPTR(rdata))
    }

    pub fn srv(self, owner: &str, priority: u16, weight: u16, port: u16, target: &str) -> Zone {
        self.add(owner, RData::SRV(SRV::new(priority, weight, port, name(target))))
    }

    pub fn a(self, owner: &str, ip: &str) -> Zone {
        let ip: Ipv4Addr = ip.parse().expect("an IPv4 address");
        self.add(owner, RData::A(A(ip)))
    }

    pub fn aaaa(self, owner: &str, ip: &str) -> Zone {
        let ip: Ipv6Addr = ip.parse().expect("an IPv6 address");
        self.add(owner, RData::AAAA(AAAA(ip)))
    }
}

struct State {
    zone: Zone,
    queries: Mutex<Vec<(String, RecordType)>>,
}

impl State {
    /// The answer to one query message, or None for something that is not a query.
    fn answer(&self, request: &[u8]) -> Option<Message> {
        let request = Message::from_vec(request).ok()?;
        if request.message_type() != MessageType::Query {
            return None;
        }
        let mut response = Message::new();
        response
            .set_id(request.id())
            .set_message_type(MessageType::Response)
            .set_op_code(OpCode::Query)
            .set_authoritative(true)
            .set_recursion_desired(request.recursion_desired())
            .set_recursion_available(false);
        let Some(query) = request.queries().first().cloned() else {
            response.set_response_code(ResponseCode::FormErr);
            return Some(response);
        };
        self.queries.lock().unwrap().push((key(&query.name().to_ascii()), query.query_type()));
        let asked = query.name().to_lowercase();
        let matching: Vec<Record> = self
            .zone
            .records
            .iter()
            .filter(|r| r.name().to_lowercase() == asked && r.record_type() == query.query_type())
            .cloned()
            .collect();
        let name_exists = self.zone.records.iter().any(|r| r.name().to_lowercase() == asked);
        response.add_query(query);
        if !matching.is_empty() {
            response.set_response_code(ResponseCode::NoError);
            for record in matching {
                response.add_answer(record);
            }
        } else {
            response.set_response_code(if name_exists {
                ResponseCode::NoError
            } else {
                ResponseCode::NXDomain
            });
            let negative = self.zone.negative_ttl;
            let soa = SOA::new(name("ns.test."), name("hostmaster.test."), 1, 3600, 600, 86400, negative);
            response.add_name_server(Record::from_rdata(name("test."), negative, RData::SOA(soa)));
        }
        Some(response)
    }
}

/// A running server; stopped when dropped.
pub struct DnsServer {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DnsServer {
    pub fn start(zone: Zone) -> DnsServer {
        // UDP and TCP on the same port, as a resolver expects of one name server.
        let (udp, tcp) = (0..50)
            .find_map(|_| {
                let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
                let tcp = TcpListener::bind(udp.local_addr().ok()?).ok()?;
                Some((udp, tcp))
            })
            .expect("a free port for UDP and TCP");
        let addr = udp.local_addr().expect("bound address");
        let state = Arc::new(State { zone, queries: Mutex::new(Vec::new()) });
        let stop = Arc::new(AtomicBool::new(false));
        let udp_thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || serve_udp(udp, &state, &stop))
        };
        let tcp_thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || serve_tcp(tcp, &state, &stop))
        };
        DnsServer { addr, state, stop, threads: vec![udp_thread, tcp_thread] }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many queries for `name` (absolute or not, any case) and `rtype` arrived.
    pub fn queries(&self, name: &str, rtype: RecordType) -> usize {
        let wanted = key(name);
        self.state.queries.lock().unwrap().iter().filter(|(n, t)| *n == wanted && *t == rtype).count()
    }

    /// Every query so far, in arrival order.
    pub fn log(&self) -> Vec<(String, RecordType)> {
        self.state.queries.lock().unwrap().clone()
    }

    pub fn total(&self) -> usize {
        self.state.queries.lock().unwrap().len()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake both blocked threads.
        if let Ok(socket) = UdpSocket::bind("127.0.0.1:0") {
            let _ = socket.send_to(b"", self.addr);
        }
        let _ = TcpStream::connect(self.addr);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn serve_udp(socket: UdpSocket, state: &State, stop: &AtomicBool) {
    let mut buf = [0u8; 4096];
    loop {
        let received = socket.recv_from(&mut buf);
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok((len, from)) = received else { continue };
        let Some(mut response) = state.answer(&buf[..len]) else { continue };
        let Ok(mut bytes) = response.to_vec() else { continue };
        if bytes.len() > UDP_LIMIT {
            // Truncated: the header and question only, TC set; the client asks again over TCP.
            response.take_answers();
            response.take_name_servers();
            response.set_truncated(true);
            let Ok(short) = response.to_vec() else { continue };
            bytes = short;
        }
        let _ = socket.send_to(&bytes, from);
    }
}

fn serve_tcp(listener: TcpListener, state: &State, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else { continue };
        // One connection at a time is enough for these tests; a read timeout keeps an idle client from
        // holding the thread.
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
        // RFC 1035 §4.2.2: each message is preceded by its length in two bytes.
        loop {
            let mut len = [0u8; 2];
            if stream.read_exact(&mut len).is_err() {
                break;
            }
            let mut request = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if stream.read_exact(&mut request).is_err() {
                break;
            }
            let Some(response) = state.answer(&request) else { break };
            let Ok(bytes) = response.to_vec() else { break };
            let Ok(len) = u16::try_from(bytes.len()) else { break };
            if stream.write_all(&len.to_be_bytes()).and_then(|()| stream.write_all(&bytes)).is_err() {
                break;
            }
        }
    }
}
