//! Which client sends each request, and who that client is.
//!
//! The client of request `i` is a pure function of `(seed, i)`, so a run's
//! traffic can be replayed exactly (for the accuracy figure) without
//! keeping a random generator's state in order.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

/// A small, fast, seedable generator (SplitMix64). Not cryptographic.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        unit(self.next_u64())
    }

    /// Exponential with mean 1.
    pub fn exponential(&mut self) -> f64 {
        -(1.0 - self.unit()).ln()
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// How the client of each request is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// Every client equally likely.
    Uniform,
    /// Hot keys: client `k` (from 0) has weight `1/(k+1)^s` (`zipf_exponent`
    /// `s`, default 1), so a few clients send most of the traffic.
    #[default]
    Zipf,
    /// Clients in turn: request `i` goes to client `i mod N` (every client
    /// once before any twice; for memory benchmarks).
    RoundRobin,
}

/// Chooses clients.
#[derive(Clone, Debug)]
pub struct Picker {
    pick: Pick,
    clients: usize,
    seed: u64,
    /// Zipf: cumulative weights, normalised, `cdf[k]` = P(client ≤ k).
    cdf: Vec<f64>,
}

impl Picker {
    /// A picker over `clients` clients.
    pub fn new(pick: Pick, clients: usize, zipf_exponent: f64, seed: u64) -> Picker {
        assert!(clients > 0, "at least one client");
        let cdf = if pick == Pick::Zipf {
            let mut acc = 0.0;
            let mut cdf: Vec<f64> = (0..clients)
                .map(|k| {
                    acc += 1.0 / ((k + 1) as f64).powf(zipf_exponent);
                    acc
                })
                .collect();
            for c in &mut cdf {
                *c /= acc;
            }
            cdf
        } else {
            Vec::new()
        };
        Picker {
            pick,
            clients,
            seed,
            cdf,
        }
    }

    /// The number of clients.
    pub fn clients(&self) -> usize {
        self.clients
    }

    /// The probability that a request comes from client `k`.
    pub fn probability(&self, k: usize) -> f64 {
        match self.pick {
            Pick::Uniform | Pick::RoundRobin => 1.0 / self.clients as f64,
            Pick::Zipf => self.cdf[k] - if k == 0 { 0.0 } else { self.cdf[k - 1] },
        }
    }

    /// The client of request `i`.
    pub fn client(&self, i: u64) -> usize {
        let r = || unit(mix(self.seed ^ mix(i.wrapping_add(0x5851_F42D_4C95_7F2D))));
        match self.pick {
            Pick::RoundRobin => (i % self.clients as u64) as usize,
            Pick::Uniform => ((r() * self.clients as f64) as usize).min(self.clients - 1),
            Pick::Zipf => {
                let u = r();
                self.cdf.partition_point(|c| *c <= u).min(self.clients - 1)
            }
        }
    }
}

/// The API key of client `k`.
pub fn api_key(prefix: &str, k: usize) -> String {
    format!("{prefix}{k}")
}

/// The IPv4 address of client `k`: `base + k`.
pub fn client_ip(base: Ipv4Addr, k: usize) -> Option<IpAddr> {
    let v = u32::from(base).checked_add(u32::try_from(k).ok()?)?;
    Some(IpAddr::V4(Ipv4Addr::from(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_visits_every_client_once_per_round() {
        let p = Picker::new(Pick::RoundRobin, 3, 1.0, 9);
        let got: Vec<usize> = (0..7).map(|i| p.client(i)).collect();
        assert_eq!(got, vec![0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn picks_are_a_function_of_seed_and_index() {
        let a = Picker::new(Pick::Uniform, 1000, 1.0, 1);
        let b = Picker::new(Pick::Uniform, 1000, 1.0, 1);
        let c = Picker::new(Pick::Uniform, 1000, 1.0, 2);
        let xs: Vec<usize> = (0..100).map(|i| a.client(i)).collect();
        assert_eq!(xs, (0..100).map(|i| b.client(i)).collect::<Vec<_>>());
        assert_ne!(xs, (0..100).map(|i| c.client(i)).collect::<Vec<_>>());
    }

    #[test]
    fn uniform_spreads_evenly() {
        let p = Picker::new(Pick::Uniform, 10, 1.0, 3);
        let mut counts = [0u32; 10];
        for i in 0..100_000 {
            counts[p.client(i)] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn zipf_gives_hot_keys() {
        let n = 12_000;
        let p = Picker::new(Pick::Zipf, n, 1.0, 5);
        // H(12000) ≈ 9.97: the hottest key has about 10% of the traffic,
        // the second half, and so on.
        let h: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
        assert!((p.probability(0) - 1.0 / h).abs() < 1e-12);
        assert!((p.probability(1) - 0.5 / h).abs() < 1e-12);
        let draws = 200_000;
        let mut first = 0;
        let mut second = 0;
        let mut max = 0;
        for i in 0..draws {
            let k = p.client(i);
            max = max.max(k);
            match k {
                0 => first += 1,
                1 => second += 1,
                _ => {}
            }
        }
        let f = first as f64 / draws as f64;
        assert!((f - 1.0 / h).abs() < 0.005, "{f}");
        let s = second as f64 / draws as f64;
        assert!((s - 0.5 / h).abs() < 0.005, "{s}");
        assert!(max > n / 2, "the tail is reached");
    }

    #[test]
    fn identities() {
        assert_eq!(api_key("k-", 42), "k-42");
        let base = Ipv4Addr::new(127, 1, 0, 1);
        assert_eq!(
            client_ip(base, 0),
            Some(IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1)))
        );
        assert_eq!(
            client_ip(base, 300),
            Some(IpAddr::V4(Ipv4Addr::new(127, 1, 1, 45)))
        );
        assert_eq!(client_ip(Ipv4Addr::BROADCAST, 1), None);
    }

    #[test]
    fn exponential_has_mean_one() {
        let mut g = SplitMix64::new(11);
        let n = 100_000;
        let mean: f64 = (0..n).map(|_| g.exponential()).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 0.02, "{mean}");
    }
}
