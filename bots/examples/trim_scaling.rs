//! Checks the inbound path's "bounded time per message" claim: times parse + trim
//! ([`trim_input`] on a whole RFC 5322 message) on generated adversarial messages of 1, 5 and
//! 10 MB, and prints seconds per size and the 10 MB / 1 MB ratio (about 10 when linear).
//!
//! `cargo run --release -p bots --example trim_scaling -- [--reps N] [--sizes 1,5,10] [--shape SUBSTR]`
//!
//! A shape whose smaller size already takes longer than [`GIVE_UP_SECS`] is not run at the
//! larger sizes (it is reported as superlinear), so a quadratic case cannot stall the run.

use std::hint::black_box;
use std::time::Instant;

use bots::email::trim::trim_input;

const MB: usize = 1024 * 1024;
/// A size that takes longer than this skips the larger sizes of the same shape.
const GIVE_UP_SECS: f64 = 20.0;

const HEAD: &str = "From: Ann <ann@example.com>\r\nTo: reply+tok@donebot.example\r\n\
Subject: Re: What did you get done today?\r\nMessage-ID: <x@example.com>\r\n";

fn plain(body: &str) -> Vec<u8> {
    format!("{HEAD}Content-Type: text/plain; charset=utf-8\r\n\r\nShipped it.\r\n\r\n{body}")
        .into_bytes()
}

fn repeat_to(unit: &str, size: usize) -> String {
    unit.repeat(size / unit.len() + 1)
}

/// Each shape: a name and a generator from a target size in bytes to a whole message.
type Shape = (&'static str, fn(usize) -> Vec<u8>);

const SHAPES: &[Shape] = &[
    ("quoted '>' lines", |n| {
        plain(&format!(
            "On Mon, 3 Mar 2025 at 09:00, Bob <bob@example.com> wrote:\r\n{}",
            repeat_to(
                "> > quoted text of the previous message, nested twice\r\n",
                n
            )
        ))
    }),
    ("'>' lines with blank lines between", |n| {
        plain(&repeat_to("> quoted\r\n\r\n\r\n", n))
    }),
    ("one giant line", |n| plain(&repeat_to("word ", n))),
    ("one giant line of 'On … wrote:'", |n| {
        plain(&repeat_to("x On Mon, Bob wrote: ", n))
    }),
    ("run of 'On … wrote:' lines", |n| {
        plain(&repeat_to(
            "On Mon, 3 Mar 2025 at 09:00, Bob <bob@example.com> wrote:\r\n",
            n,
        ))
    }),
    ("run of unfinished 'On …' lines", |n| {
        plain(&repeat_to(
            "On Monday, March 3, 2025 at 9:00 AM, Bob\r\n",
            n,
        ))
    }),
    ("run of Outlook header lines", |n| {
        plain(&repeat_to("From: Bob\r\nTo: Ann\r\n", n))
    }),
    ("run of sign-off lines", |n| {
        plain(&repeat_to(
            "Thanks,\r\nBob\r\n-- \r\nSent from my iPhone\r\n",
            n,
        ))
    }),
    ("many headers", |n| {
        let mut m = String::from(HEAD);
        m.push_str(&repeat_to("X-Filler: a header that repeats\r\n", n));
        m.push_str("Content-Type: text/plain\r\n\r\nShipped it.\r\n");
        m.into_bytes()
    }),
    ("one giant References header", |n| {
        let mut m = String::from(HEAD);
        m.push_str("References:");
        m.push_str(&repeat_to(" <id@example.com>", n));
        m.push_str("\r\nContent-Type: text/plain\r\n\r\nShipped it.\r\n");
        m.into_bytes()
    }),
    ("base64 body of '>' lines", |n| {
        let line = "PiBxdW90ZWQgdGV4dCBvZiB0aGUgcHJldmlvdXMgbWVzc2FnZQo=\r\n"; // "> quoted text…\n"
        format!(
            "{HEAD}Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}",
            repeat_to(line, n)
        )
        .into_bytes()
    }),
    ("lone-CR line ends, '>' lines", |n| {
        plain(&repeat_to("> quoted\r> more\r\r", n))
    }),
    ("many multipart siblings", |n| {
        let part = "--b\r\nContent-Type: text/plain\r\n\r\nline\r\n";
        format!(
            "{HEAD}Content-Type: multipart/mixed; boundary=b\r\n\r\n{}--b--\r\n",
            repeat_to(part, n)
        )
        .into_bytes()
    }),
    ("multiparts nested 250 deep", |n| {
        let depth = 250;
        let mut m = String::from(HEAD);
        for d in 0..depth {
            m.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{d}\r\n\r\n--b{d}\r\n"
            ));
        }
        m.push_str("Content-Type: text/plain\r\n\r\n");
        m.push_str(&repeat_to("deep body line\r\n", n));
        for d in (0..depth).rev() {
            m.push_str(&format!("\r\n--b{d}--\r\n"));
        }
        m.into_bytes()
    }),
    ("html: nested blockquotes", |n| {
        let unit = "<blockquote><div>quoted ";
        let k = n / unit.len() / 2;
        let body = format!(
            "<p>Shipped it.</p>{}{}",
            unit.repeat(k),
            "</div></blockquote>".repeat(k)
        );
        format!("{HEAD}Content-Type: text/html; charset=utf-8\r\n\r\n{body}").into_bytes()
    }),
    ("html: unclosed '<a' tags", |n| {
        format!(
            "{HEAD}Content-Type: text/html\r\n\r\n<p>x</p>{}",
            repeat_to("<a href=x ", n)
        )
        .into_bytes()
    }),
    ("quoted-printable soft breaks", |n| {
        format!(
            "{HEAD}Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\n{}",
            repeat_to("caf=E9 =\r\n", n)
        )
        .into_bytes()
    }),
    ("format=flowed quoted paragraph", |n| {
        format!(
            "{HEAD}Content-Type: text/plain; charset=utf-8; format=flowed\r\n\r\nShipped.\r\n\r\n{}",
            repeat_to("> flowed quoted text \r\n", n)
        )
        .into_bytes()
    }),
];

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let reps: usize = arg("--reps").and_then(|r| r.parse().ok()).unwrap_or(3);
    let sizes: Vec<usize> = arg("--sizes")
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 5, 10]);

    print!("| shape |");
    for mb in &sizes {
        print!(" {mb} MB (s) |");
    }
    println!(" largest / smallest | kept (bytes) |");
    println!("|---|{}---|---|", "---|".repeat(sizes.len()));
    let only = arg("--shape");
    for (name, make) in SHAPES {
        if only.is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        print!("| {name} |");
        let mut times = Vec::new();
        let mut kept = String::from("-");
        for &mb in &sizes {
            if times.last().is_some_and(|&t| t > GIVE_UP_SECS) {
                print!(" skipped |");
                continue;
            }
            let input = make(mb * MB);
            let t = median(
                (0..reps.max(1))
                    .map(|_| {
                        let start = Instant::now();
                        let out = black_box(trim_input(black_box(&input)));
                        kept = out.map_or_else(|e| format!("error: {e}"), |s| s.len().to_string());
                        start.elapsed().as_secs_f64()
                    })
                    .collect(),
            );
            print!(" {t:.3} |");
            times.push(t);
        }
        match (times.first(), times.last()) {
            (Some(a), Some(b)) if times.len() == sizes.len() && *a > 0.0 => {
                println!(" {:.1}× | {kept} |", b / a)
            }
            _ => println!(" superlinear | {kept} |"),
        }
    }
}
