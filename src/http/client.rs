//! Who the client is: the peer address, or, behind trusted proxies only, the address they name
//! in `X-Forwarded-For`. Anyone else could write that header, so it is ignored from them.

use std::net::{IpAddr, SocketAddr};

use http::header::HeaderMap;
use ipnet::IpNet;

/// Networks whose `X-Forwarded-For` is believed (NGINX on the same host, a load balancer).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// From addresses or CIDR networks (`127.0.0.1`, `10.0.0.0/8`); reports the first bad one.
    pub fn parse(list: &[String]) -> Result<Self, String> {
        let nets = list
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<IpNet>().or_else(|_| s.parse::<IpAddr>().map(IpNet::from)).map_err(|_| format!("trusted proxy {s:?} is not an address or network"))
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { nets })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// The client's address: walking `X-Forwarded-For` from the right while each hop is trusted.
pub fn address(trusted: &TrustedProxies, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let mut client = peer.ip();
    if !trusted.trusts(client) {
        return client;
    }
    let hops = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim);
    let hops: Vec<&str> = hops.collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else { break };
        client = ip;
        if !trusted.trusts(ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn believes_only_trusted_hops() {
        let trusted = TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap();
        let nginx: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        assert_eq!(address(&trusted, nginx, &forwarded("198.51.100.7")), "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(address(&trusted, nginx, &forwarded("1.2.3.4, 198.51.100.7, 10.1.1.1")), "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(address(&trusted, stranger, &forwarded("198.51.100.7")), stranger.ip());
        assert_eq!(address(&trusted, nginx, &HeaderMap::new()), nginx.ip());
        assert!(TrustedProxies::parse(&["nonsense".into()]).is_err());
    }
}
