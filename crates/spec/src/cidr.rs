//! [`Cidr`]: an IPv4 or IPv6 network (or a single address) for `push://`
//! allow lists.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP network: an address and a prefix length. A bare address is a network
/// of one (`/32` or `/128`). Host bits below the prefix are cleared on
/// construction, so `10.1.2.3/8` and `10.0.0.0/8` are equal.
///
/// IPv4-mapped IPv6 peers (`::ffff:10.0.0.1`, what a dual-stack socket
/// reports) are matched as the IPv4 address they carry.
///
/// ```
/// use spec::Cidr;
/// let net: Cidr = "10.0.0.0/8".parse().unwrap();
/// assert!(net.contains("10.20.30.40".parse().unwrap()));
/// assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()));
/// assert!(!net.contains("11.0.0.1".parse().unwrap()));
/// assert_eq!("2001:db8::1".parse::<Cidr>().unwrap().to_string(), "2001:db8::1");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a string is not a [`Cidr`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The address part is not an IPv4 or IPv6 address.
    #[error("{text:?} is not an IPv4 or IPv6 address")]
    InvalidAddress {
        /// The address part as written.
        text: String,
    },
    /// The prefix is not a number, or too long for the address family.
    #[error("invalid prefix length {text:?} (0 to {max} for this address)")]
    InvalidPrefix {
        /// The prefix as written.
        text: String,
        /// The longest prefix of the address family (32 or 128).
        max: u8,
    },
}

// === impl Cidr ===

impl Cidr {
    /// A network from an address and a prefix length; host bits are cleared.
    /// `None` when the prefix is longer than the address (32 or 128 bits).
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        if prefix > max_prefix(addr) {
            return None;
        }
        Some(Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// A network of exactly one address.
    pub fn host(addr: IpAddr) -> Self {
        Self {
            addr,
            prefix: max_prefix(addr),
        }
    }

    /// Parses `ADDR`, `ADDR/PREFIX`, `[IPV6]` or `[IPV6]/PREFIX`.
    pub fn parse(s: &str) -> Result<Self, CidrError> {
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let bare = addr_text
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .filter(|a| a.contains(':'))
            .unwrap_or(addr_text);
        let addr: IpAddr = bare.parse().map_err(|_| CidrError::InvalidAddress {
            text: addr_text.to_owned(),
        })?;
        let max = max_prefix(addr);
        let prefix = match prefix_text {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max && !p.starts_with('+'))
                .ok_or_else(|| CidrError::InvalidPrefix {
                    text: p.to_owned(),
                    max,
                })?,
        };
        Ok(Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// The network address (host bits cleared).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in this network. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(_), v4 @ IpAddr::V4(_)) | (IpAddr::V6(_), v4 @ IpAddr::V6(_)) => {
                mask(v4, self.prefix) == self.addr
            }
            _ => false,
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & bits))
        }
        IpAddr::V6(a) => {
            let bits = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & bits))
        }
    }
}

impl fmt::Display for Cidr {
    /// `ADDR` for a single address, `ADDR/PREFIX` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix == max_prefix(self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_networks() {
        let n = Cidr::parse("192.168.1.77/24").unwrap();
        assert_eq!(n.to_string(), "192.168.1.0/24");
        assert!(n.contains(ip("192.168.1.1")) && n.contains(ip("192.168.1.255")));
        assert!(!n.contains(ip("192.168.2.1")));
        assert!(!n.contains(ip("::1")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("2001:db8::1")));
        let one = Cidr::parse("10.0.0.1").unwrap();
        assert!(one.contains(ip("10.0.0.1")) && !one.contains(ip("10.0.0.2")));
        assert_eq!(one, Cidr::parse("10.0.0.1/32").unwrap());
    }

    #[test]
    fn v6_networks() {
        let n = Cidr::parse("2001:db8::/32").unwrap();
        assert!(n.contains(ip("2001:db8:1::5")) && !n.contains(ip("2001:db9::1")));
        assert!(!n.contains(ip("10.0.0.1")));
        assert_eq!(Cidr::parse("[::1]").unwrap(), Cidr::host(ip("::1")));
        assert_eq!(Cidr::parse("[fe80::]/10").unwrap().to_string(), "fe80::/10");
        assert!(Cidr::parse("::/0").unwrap().contains(ip("::1")));
        // Mapped peers match IPv4 networks, not ::ffff:0:0/96 style v6 ones.
        assert!(
            Cidr::parse("127.0.0.0/8")
                .unwrap()
                .contains(ip("::ffff:127.0.0.1"))
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            Cidr::parse("10.0.0.0/33").unwrap_err(),
            CidrError::InvalidPrefix {
                text: "33".into(),
                max: 32
            }
        );
        assert!(matches!(
            Cidr::parse("10.0.0/8"),
            Err(CidrError::InvalidAddress { .. })
        ));
        assert!(matches!(
            Cidr::parse("host.example"),
            Err(CidrError::InvalidAddress { .. })
        ));
        assert!(matches!(
            Cidr::parse("10.0.0.0/+8"),
            Err(CidrError::InvalidPrefix { .. })
        ));
        assert!(matches!(
            Cidr::parse("10.0.0.0/"),
            Err(CidrError::InvalidPrefix { .. })
        ));
        assert!(matches!(
            Cidr::parse("[10.0.0.1]"),
            Err(CidrError::InvalidAddress { .. })
        ));
        assert_eq!(Cidr::new(ip("::"), 129), None);
        assert_eq!(
            Cidr::parse("10.0.0.0/8x").unwrap_err().to_string(),
            "invalid prefix length \"8x\" (0 to 32 for this address)"
        );
    }

    proptest! {
        #[test]
        fn round_trip(v4 in any::<u32>(), v6 in any::<u128>(), p4 in 0u8..=32, p6 in 0u8..=128) {
            for c in [Cidr::new(IpAddr::V4(v4.into()), p4).unwrap(), Cidr::new(IpAddr::V6(v6.into()), p6).unwrap()] {
                prop_assert_eq!(Cidr::parse(&c.to_string()).unwrap(), c);
                prop_assert!(c.contains(c.addr()));
            }
        }

        #[test]
        fn contains_agrees_with_prefix(a in any::<u32>(), b in any::<u32>(), p in 0u8..=32) {
            let c = Cidr::new(IpAddr::V4(a.into()), p).unwrap();
            let same = p == 0 || (a ^ b) >> (32 - u32::from(p)) == 0;
            prop_assert_eq!(c.contains(IpAddr::V4(b.into())), same);
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = Cidr::parse(&s);
        }
    }
}
