//! Writes the seed CSVs of example_project/ (a small online shop) with a fixed-seed PRNG, so the
//! data is the same on every run: `cargo run --example gen_shop_data -- example_project/seeds`.

use std::fmt::Write as _;
use std::path::PathBuf;

/// SplitMix64: tiny, deterministic, good enough for sample data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const FIRST: &[&str] = &[
    "Ada", "Bo", "Chen", "Dana", "Emil", "Farah", "Gus", "Hana", "Ivan", "Jo", "Kofi", "Lena", "Mei", "Nils", "Olga",
    "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Vera", "Wes", "Xin", "Yara", "Zoe",
];
const LAST: &[&str] = &[
    "Adams", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski", "Lopez",
    "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Silva", "Tanaka", "Weber",
];
const COUNTRIES: &[&str] = &["DE", "FR", "NL", "SE", "ES", "IT", "PL", "GB", "US", "JP"];
const CATEGORIES: &[(&str, &[&str])] = &[
    ("coffee", &["Espresso Beans", "Filter Roast", "Decaf Blend", "Single Origin Kenya", "Cold Brew Pack"]),
    ("tea", &["Sencha", "Earl Grey", "Rooibos", "Chai Mix", "Oolong"]),
    ("equipment", &["Pour-over Kettle", "Burr Grinder", "French Press", "Moka Pot", "Scale"]),
    ("accessories", &["Ceramic Mug", "Travel Cup", "Paper Filters", "Tea Infuser", "Cleaning Tablets"]),
];
const STATUSES: &[&str] = &["placed", "shipped", "completed", "completed", "completed", "returned", "cancelled"];
const METHODS: &[&str] = &["credit_card", "credit_card", "paypal", "bank_transfer", "gift_card"];

fn date(day: u64) -> String {
    let d = chrono_like(day);
    format!("{:04}-{:02}-{:02}", d.0, d.1, d.2)
}

/// Days after 2024-01-01 to (y, m, d), without a date crate.
fn chrono_like(mut day: u64) -> (u64, u64, u64) {
    let mut y = 2024;
    loop {
        let len = if y % 4 == 0 { 366 } else { 365 };
        if day < len {
            break;
        }
        day -= len;
        y += 1;
    }
    let months = [31, if y % 4 == 0 { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut m = 0;
    while day >= months[m] {
        day -= months[m];
        m += 1;
    }
    (y, m as u64 + 1, day + 1)
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "example_project/seeds".into()));
    std::fs::create_dir_all(&dir).expect("create seed folder");
    let mut rng = Rng(20241121);

    let mut customers = String::from("id,first_name,last_name,email,country,signup_date\n");
    let n_customers = 400;
    for id in 1..=n_customers {
        let (f, l) = (rng.pick(FIRST), rng.pick(LAST));
        let email = if rng.below(25) == 0 {
            String::new()
        } else {
            format!("{}.{}{}@example.com", f.to_lowercase(), l.to_lowercase(), id)
        };
        let _ = writeln!(customers, "{id},{f},{l},{email},{},{}", rng.pick(COUNTRIES), date(rng.below(300)));
    }

    let mut products = String::from("id,sku,name,category,price_cents\n");
    let mut prices = vec![];
    let mut pid = 0;
    for (cat, names) in CATEGORIES {
        for name in names.iter() {
            pid += 1;
            let price = 450 + rng.below(60) * 50;
            prices.push(price);
            let _ = writeln!(products, "{pid},{}-{pid:03},\"{name}\",{cat},{price}", &cat[..3].to_uppercase());
        }
    }

    let mut orders = String::from("id,customer_id,order_date,status\n");
    let mut items = String::from("id,order_id,product_id,quantity\n");
    let mut payments = String::from("id,order_id,payment_method,amount_cents,paid_at\n");
    let (mut item_id, mut pay_id) = (0, 0);
    for oid in 1..=1500 {
        let customer = 1 + rng.below(n_customers);
        let day = 20 + rng.below(340);
        let status = rng.pick(STATUSES);
        let _ = writeln!(orders, "{oid},{customer},{},{status}", date(day));
        let mut total = 0;
        for _ in 0..(1 + rng.below(4)) {
            item_id += 1;
            let p = 1 + rng.below(pid);
            let q = 1 + rng.below(3);
            total += prices[(p - 1) as usize] * q;
            let _ = writeln!(items, "{item_id},{oid},{p},{q}");
        }
        if status == "cancelled" {
            continue;
        }
        // Some orders are paid in two parts (gift card first).
        let split = rng.below(8) == 0;
        let parts = if split { vec![500.min(total), total.saturating_sub(500)] } else { vec![total] };
        for (i, amount) in parts.into_iter().enumerate() {
            pay_id += 1;
            let method = if split && i == 0 { "gift_card" } else { rng.pick(METHODS) };
            let _ = writeln!(
                payments,
                "{pay_id},{oid},{method},{amount},{} {:02}:{:02}:00",
                date(day + rng.below(2)),
                rng.below(24),
                rng.below(60)
            );
        }
    }
    for (name, text) in [
        ("raw_customers.csv", customers),
        ("raw_products.csv", products),
        ("raw_orders.csv", orders),
        ("raw_order_items.csv", items),
        ("raw_payments.csv", payments),
    ] {
        std::fs::write(dir.join(name), text).expect("write seed");
    }
}
