//! `linux.netDevices`: host network interfaces moved into the container's new network
//! namespace, renamed there when the config says so, keeping their addresses. The move
//! and rename are one rtnetlink request (the kernel renames as it moves, so no other
//! interface can take the name in between); the addresses, which a move drops, are read
//! first and added back inside the namespace.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{bail, Context, Result};
use nix::sched::CloneFlags;
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use oci_spec::runtime::{Linux, LinuxNamespaceType, LinuxNetDevice};

const FIELD: &str = "linux.netDevices";

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;

/// Whether `name` can be an interface name: 1 to 15 bytes, no '/', ':' or whitespace, and
/// not "." or "..".
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c == '\0')
}

/// The name each device gets inside the container.
fn target_name<'a>(host: &'a str, device: &'a LinuxNetDevice) -> &'a str {
    device
        .name()
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(host)
}

/// Checks that every device exists on the host, every name is one, no two devices get
/// the same name, and that there is a new network namespace of the container's own to
/// move them into (a joined one belongs to someone else, the host's to no container).
pub fn validate(linux: &Linux) -> Result<()> {
    let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    let network = namespaces
        .iter()
        .find(|ns| ns.typ() == LinuxNamespaceType::Network);
    match network {
        None => bail!("{FIELD}: the container has no network namespace of its own to move devices into"),
        Some(ns) if ns.path().is_some() => bail!(
            "{FIELD}: the container's network namespace is joined by path, not new: devices are only moved into a namespace the container creates"
        ),
        Some(_) => {}
    }
    let host_links = Netlink::open()?;
    let mut targets: HashMap<&str, &str> = HashMap::new();
    let mut hosts: Vec<&String> = devices.keys().collect();
    hosts.sort();
    for host in hosts {
        let device = &devices[host];
        if !valid_name(host) {
            bail!("{FIELD}: {host:?} is not a network interface name");
        }
        let target = target_name(host, device);
        if !valid_name(target) {
            bail!("{FIELD}.{host}.name {target:?} is not a network interface name");
        }
        if let Some(other) = targets.insert(target, host) {
            bail!(
                "{FIELD}: {other:?} and {host:?} would both be named {target:?} in the container"
            );
        }
        if host_links.link_index(host).is_err() {
            bail!("{FIELD}: the host has no network interface {host:?}");
        }
    }
    Ok(())
}

/// Moves the config's devices into the network namespace of `init_pid`.
pub fn move_into(linux: &Linux, init_pid: i32) -> Result<()> {
    let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    let netns: OwnedFd = std::fs::File::open(format!("/proc/{init_pid}/ns/net"))
        .context("opening the init's network namespace")?
        .into();
    let host = Netlink::open()?;
    // A socket made inside the container's namespace stays bound to it.
    let entry = (CloneFlags::CLONE_NEWNET, netns.try_clone()?);
    let visit = crate::process::parent::JoinedNamespaces::enter(&[&entry]).context(FIELD)?;
    let inside = Netlink::open();
    visit.leave()?;
    let inside = inside?;
    let mut names: Vec<&String> = devices.keys().collect();
    names.sort();
    for name in names {
        let target = target_name(name, &devices[name]);
        move_one(&host, &inside, &netns, name, target).with_context(|| {
            format!("{FIELD}: moving {name:?} into the container as {target:?}")
        })?;
    }
    Ok(())
}

fn move_one(
    host: &Netlink,
    inside: &Netlink,
    netns: &OwnedFd,
    name: &str,
    target: &str,
) -> Result<()> {
    let index = host.link_index(name)?;
    let addresses = host.addresses(index)?;
    let mut request = Message::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
    request.ifinfo(index);
    request.attr(IFLA_NET_NS_FD, &(netns.as_raw_fd() as u32).to_ne_bytes());
    request.attr_str(IFLA_IFNAME, target);
    host.transact(request).context("moving the interface")?;
    let new_index = inside.link_index(target)?;
    for address in addresses {
        let mut request = Message::new(
            RTM_NEWADDR,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        );
        let mut header = address.header;
        header[4..8].copy_from_slice(&(new_index as u32).to_ne_bytes());
        request.body.extend_from_slice(&header);
        for (kind, value) in &address.attrs {
            request.attr(*kind, value);
        }
        inside
            .transact(request)
            .context("restoring an address of the interface")?;
    }
    Ok(())
}

/// One interface address as the kernel reported it: its ifaddrmsg and the attributes
/// needed to add it again.
struct Address {
    header: [u8; 8],
    attrs: Vec<(u16, Vec<u8>)>,
}

/// An rtnetlink request being built: the header is filled in when it is sent.
struct Message {
    kind: u16,
    flags: u16,
    body: Vec<u8>,
}

impl Message {
    fn new(kind: u16, flags: u16) -> Message {
        Message {
            kind,
            flags,
            body: Vec::new(),
        }
    }

    /// A `struct ifinfomsg` for interface `index`.
    fn ifinfo(&mut self, index: i32) {
        self.body.extend_from_slice(&[0u8; 4]);
        self.body.extend_from_slice(&index.to_ne_bytes());
        self.body.extend_from_slice(&[0u8; 8]);
    }

    fn attr(&mut self, kind: u16, value: &[u8]) {
        let len = 4 + value.len();
        self.body.extend_from_slice(&(len as u16).to_ne_bytes());
        self.body.extend_from_slice(&kind.to_ne_bytes());
        self.body.extend_from_slice(value);
        self.body.resize(self.body.len().next_multiple_of(4), 0);
    }

    fn attr_str(&mut self, kind: u16, value: &str) {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        self.attr(kind, &bytes);
    }

    fn encode(&self, seq: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.body.len());
        out.extend_from_slice(&((16 + self.body.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&self.kind.to_ne_bytes());
        out.extend_from_slice(&self.flags.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

struct Netlink {
    socket: OwnedFd,
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The attributes in `bytes` (a run of rtattrs).
fn attributes(mut bytes: &[u8]) -> Vec<(u16, &[u8])> {
    let mut found = Vec::new();
    while bytes.len() >= 4 {
        let len = u16_at(bytes, 0) as usize;
        if len < 4 || len > bytes.len() {
            break;
        }
        found.push((u16_at(bytes, 2), &bytes[4..len]));
        bytes = &bytes[len.next_multiple_of(4).min(bytes.len())..];
    }
    found
}

impl Netlink {
    fn open() -> Result<Netlink> {
        let socket = socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .context("opening an rtnetlink socket")?;
        socket::bind(socket.as_raw_fd(), &NetlinkAddr::new(0, 0))
            .context("binding the rtnetlink socket")?;
        Ok(Netlink { socket })
    }

    /// Sends `request` and returns the payloads of the replies (for a dump, all of them),
    /// or the kernel's error.
    fn exchange(&self, request: Message) -> Result<Vec<(u16, Vec<u8>)>> {
        let seq = 1;
        socket::send(
            self.socket.as_raw_fd(),
            &request.encode(seq),
            MsgFlags::empty(),
        )
        .context("sending an rtnetlink request")?;
        let dump = request.flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut replies = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = socket::recv(self.socket.as_raw_fd(), &mut buffer, MsgFlags::empty())
                .context("reading an rtnetlink reply")?;
            let mut rest = &buffer[..n];
            while rest.len() >= 16 {
                let len = (u32_at(rest, 0) as usize).min(rest.len());
                if len < 16 {
                    bail!("malformed rtnetlink reply");
                }
                let kind = u16_at(rest, 4);
                let payload = &rest[16..len];
                match kind {
                    NLMSG_DONE => return Ok(replies),
                    NLMSG_ERROR => {
                        let code = if payload.len() >= 4 {
                            u32_at(payload, 0) as i32
                        } else {
                            0
                        };
                        if code != 0 {
                            return Err(std::io::Error::from_raw_os_error(-code).into());
                        }
                        return Ok(replies);
                    }
                    _ => replies.push((kind, payload.to_vec())),
                }
                rest = &rest[len.next_multiple_of(4).min(rest.len())..];
            }
            if !dump && !replies.is_empty() {
                return Ok(replies);
            }
        }
    }

    fn transact(&self, request: Message) -> Result<()> {
        self.exchange(request).map(drop)
    }

    /// The index of the interface named `name` in this socket's namespace.
    fn link_index(&self, name: &str) -> Result<i32> {
        let mut request = Message::new(RTM_GETLINK, NLM_F_REQUEST);
        request.ifinfo(0);
        request.attr_str(IFLA_IFNAME, name);
        let replies = self
            .exchange(request)
            .with_context(|| format!("finding the interface {name:?}"))?;
        let (_, payload) = replies
            .first()
            .with_context(|| format!("{name:?} is not in the container's namespace"))?;
        if payload.len() < 16 {
            bail!("malformed link reply");
        }
        Ok(u32_at(payload, 4) as i32)
    }

    /// The addresses on interface `index`, except IPv6 link-local ones, which the kernel
    /// makes again by itself.
    fn addresses(&self, index: i32) -> Result<Vec<Address>> {
        let mut request = Message::new(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
        request.body.extend_from_slice(&[0u8; 8]);
        let mut found = Vec::new();
        for (kind, payload) in self
            .exchange(request)
            .context("reading the interface's addresses")?
        {
            if kind != RTM_NEWADDR || payload.len() < 8 || u32_at(&payload, 4) as i32 != index {
                continue;
            }
            let mut header = [0u8; 8];
            header.copy_from_slice(&payload[..8]);
            let attrs: Vec<(u16, Vec<u8>)> = attributes(&payload[8..])
                .into_iter()
                .filter(|(k, _)| matches!(*k, IFA_ADDRESS | IFA_LOCAL | IFA_BROADCAST))
                .map(|(k, v)| (k, v.to_vec()))
                .collect();
            let link_local_v6 = header[0] as i32 == libc::AF_INET6
                && attrs.iter().any(|(k, v)| {
                    *k == IFA_ADDRESS && v.len() == 16 && v[0] == 0xfe && v[1] & 0xc0 == 0x80
                });
            if !link_local_v6 {
                found.push(Address { header, attrs });
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        for good in ["eth0", "a", "skspx0-x.y", "fifteen-chars-x"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "sixteen-chars-xx"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn attributes_are_padded_and_parsed() {
        let mut message = Message::new(RTM_NEWLINK, NLM_F_REQUEST);
        message.ifinfo(7);
        message.attr_str(IFLA_IFNAME, "eth9");
        message.attr(IFLA_NET_NS_FD, &5u32.to_ne_bytes());
        let encoded = message.encode(1);
        assert_eq!(u32_at(&encoded, 0) as usize, encoded.len());
        let attrs = attributes(&encoded[32..]);
        assert_eq!(
            attrs,
            vec![
                (IFLA_IFNAME, &b"eth9\0"[..]),
                (IFLA_NET_NS_FD, &5u32.to_ne_bytes()[..])
            ]
        );
    }
}
