//! The client side of `donebot bench inbound`: realistic replies to prompts, and the SMTP client
//! that sends them over concurrent sessions.
//!
//! A reply answers one member's prompt as a mail client writes it: to the prompt's per-prompt
//! address (`reply+TOKEN@domain`) in the envelope and in `To:`, threaded to the prompt
//! (`In-Reply-To`/`References` with its Message-ID), relay headers, three typed lines, the quoted
//! prompt and a signature (~3 KB). It is not the server: it owns nothing the server reads except
//! the bytes it sends, and it must never take a shortcut the server would not see from a real MTA
//! (every message goes through MAIL/RCPT/DATA and waits for its `250`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A client read (greeting, a reply) that takes longer than this fails the run.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// The typed lines of every reply; each becomes one done.
pub const LINES: u64 = 3;

/// A member who got a prompt and answers it.
#[derive(Debug, Clone)]
pub struct Replier {
    pub name: String,
    pub email: String,
    pub team: String,
    /// The prompt's reply address, `reply+TOKEN@domain`.
    pub reply_to: String,
    /// The prompt's Message-ID, without brackets.
    pub prompt_message_id: String,
}

/// What the client did.
pub struct Sent {
    pub last_250: Instant,
    pub bytes: usize,
}

/// Sends `n` replies over `c` concurrent sessions, on a runtime of its own (this thread); reply
/// `i` comes from `repliers[i % len]`, so consecutive messages are from different members and,
/// with members spread over teams in turn, from different teams.
pub fn drive(
    smtp: std::net::SocketAddr,
    n: u64,
    c: usize,
    repliers: Arc<Vec<Replier>>,
    day: String,
) -> anyhow::Result<Sent> {
    if repliers.is_empty() {
        bail!("no members to send replies from");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the client runtime")?;
    rt.block_on(async {
        let next = Arc::new(AtomicU64::new(0));
        let mut sessions = tokio::task::JoinSet::new();
        for _ in 0..c {
            let (next, repliers, day) = (Arc::clone(&next), Arc::clone(&repliers), day.clone());
            sessions.spawn(async move { session(smtp, n, &next, &repliers, &day).await });
        }
        let mut sent = Sent {
            last_250: Instant::now(),
            bytes: 0,
        };
        let mut first = true;
        while let Some(joined) = sessions.join_next().await {
            let one = joined.context("client session task failed")??;
            sent.bytes += one.bytes;
            if first || one.last_250 > sent.last_250 {
                sent.last_250 = one.last_250;
                first = false;
            }
        }
        Ok(sent)
    })
}

/// One SMTP session: EHLO, then MAIL/RCPT/DATA for message numbers taken from `next` until `n`.
async fn session(
    smtp: std::net::SocketAddr,
    n: u64,
    next: &AtomicU64,
    repliers: &[Replier],
    day: &str,
) -> anyhow::Result<Sent> {
    let stream = TcpStream::connect(smtp)
        .await
        .with_context(|| format!("cannot connect to {smtp}"))?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    expect(&mut read, &mut line, "220").await?;
    write.write_all(b"EHLO bench.example.org\r\n").await?;
    expect(&mut read, &mut line, "250").await?;
    let mut sent = Sent {
        last_250: Instant::now(),
        bytes: 0,
    };
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            break;
        }
        // `repliers` is not empty (checked by `drive`), so the index is in range.
        let from = &repliers[(i % repliers.len() as u64) as usize];
        let raw = reply_email(i, from, day);
        sent.bytes += raw.len();
        write
            .write_all(format!("MAIL FROM:<{}>\r\n", from.email).as_bytes())
            .await?;
        expect(&mut read, &mut line, "250").await?;
        write
            .write_all(format!("RCPT TO:<{}>\r\n", from.reply_to).as_bytes())
            .await?;
        expect(&mut read, &mut line, "250").await?;
        write.write_all(b"DATA\r\n").await?;
        expect(&mut read, &mut line, "354").await?;
        write.write_all(&dot_stuffed(&raw)).await?;
        expect(&mut read, &mut line, "250").await?;
        sent.last_250 = Instant::now();
    }
    write.write_all(b"QUIT\r\n").await?;
    let _ = expect(&mut read, &mut line, "221").await;
    Ok(sent)
}

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    line: &mut String,
    code: &str,
) -> anyhow::Result<()> {
    loop {
        line.clear();
        let got = tokio::time::timeout(REPLY_TIMEOUT, read.read_line(line))
            .await
            .context("the server did not answer in time")??;
        if got == 0 {
            bail!("the server closed the connection (expected {code})");
        }
        if !line.starts_with(code) {
            bail!("expected {code}, the server said: {}", line.trim_end());
        }
        // "250-" continues, "250 " ends.
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}

/// The DATA payload: lines starting with "." doubled, ended by CRLF "." CRLF.
fn dot_stuffed(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 8);
    let mut at_line_start = true;
    for &b in raw {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Reply number `i` from `from` as a mail client writes it: relay headers, three typed lines, the
/// quoted prompt under an "On … wrote:" line, and a signature. About 3 KB.
pub fn reply_email(i: u64, from: &Replier, day: &str) -> Vec<u8> {
    let typed = [
        format!("Reviewed Zoë's pull request #{i} for the billing export #ops"),
        "Paired with @grace on the flaky scheduler test; it was a DST edge case".to_owned(),
        "goal: ship the retry budget for outbound webhooks tomorrow".to_owned(),
    ];
    let Replier {
        name,
        email,
        team,
        reply_to: to,
        prompt_message_id: prompt,
    } = from;
    format!(
        "Return-Path: <{email}>\r\n\
Received: from mail-ed1-f41.example.org (mail-ed1-f41.example.org [192.0.2.41])\r\n\
\tby mx.donebot.localhost with ESMTPS id 4b7c2a1f{i:08x}\r\n\
\tfor <{to}>; {day} 18:{min:02}:{sec:02} +0000\r\n\
Received: by mail-ed1-f41.example.org with SMTP id a640c23a62f3a-ab2c{i:x}\r\n\
\tfor <{to}>; {day} 18:{min:02}:{sec:02} -0700 (PDT)\r\n\
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=20230601; t=1717430400;\r\n\
\th=to:subject:message-id:date:from:in-reply-to:references:mime-version:from:to:cc:subject:date;\r\n\
\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\
\tb=Kx3vYq9cLr1mWd0pT2fHs8nZbQ4eJt7uVi6oXa5gRk3lMy0wCz9dPh2sFj8vNe1qUx4t\r\n\
\t BrW6yAm7cHk0iLo5gSp3dTf9eZn2jVq8uXw1aRb4sMc6kNl0hOy7pQz3vGt5iJe9fKu2xD\r\n\
\t Wa1sLm8nBo4cQr6tYv0zXh3gEj5kPi7uMd9lFy2wNb4oTc6eRq8sVa0xHz1yJg3mKl5nOp==\r\n\
Authentication-Results: mx.donebot.localhost;\r\n\
\tdkim=pass header.i=@example.org header.s=20230601 header.b=Kx3vYq9c;\r\n\
\tspf=pass (mx.donebot.localhost: domain of {email} designates 192.0.2.41 as\r\n\
\t permitted sender) smtp.mailfrom={email};\r\n\
\tdmarc=pass (p=QUARANTINE sp=QUARANTINE dis=NONE) header.from=example.org\r\n\
X-Received: by 2002:a17:907:9689:b0:ab2:c1e4:{i:x} with SMTP id\r\n\
\t gc9-20020a1709079689b0ab2c1e4c1d2mr{i:x}ejc.41; {day} 18:{min:02}:{sec:02} -0700 (PDT)\r\n\
X-Google-Smtp-Source: AGHT+IFq3bT0Yk9sEr2uWx5nMa7dLc1pVh8zRj4oKg6iNf0eBy{i:x}\r\n\
MIME-Version: 1.0\r\n\
References: <{prompt}>\r\n\
In-Reply-To: <{prompt}>\r\n\
From: {name} <{email}>\r\n\
Date: {day} 18:{min:02}:{sec:02} -0700\r\n\
Message-ID: <CAJ{i:016x}bench.{i}@mail.example.org>\r\n\
Subject: Re: What did you get done today? ({team})\r\n\
To: {team} <{to}>\r\n\
Content-Type: text/plain; charset=\"UTF-8\"\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
{t0}\r\n\
{t1}\r\n\
{t2}\r\n\
\r\n\
On {day} at 18:00, {team} <{to}> wrote:\r\n\
> What did you get done today?\r\n\
>\r\n\
> Hi {name}, just reply to this email with what you got done today: one\r\n\
> line per thing.\r\n\
> Start a line with \"goal:\" for something you plan, or \"blocker:\" for what is\r\n\
> in your way.\r\n\
> Tomorrow morning everyone in {team} gets a digest.\r\n\
>\r\n\
> --\r\n\
> You get this because you are in {team} on donebot.\r\n\
> Pause: reply \"pause\" (or \"pause until 2025-07-01\"). Stop: reply \"unsubscribe\".\r\n\
> Unsubscribe: http://127.0.0.1:8080/u/1/4f3c9a2b7e1d6c5a8b0f2e4d6c8a0b2e4f6a8c0e\r\n\
> Pause: http://127.0.0.1:8080/p/1/9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d\r\n\
\r\n\
-- \r\n\
{name}\r\n\
Staff engineer, {team}\r\n\
Analytical Engines Ltd. | +44 20 7946 0000 | https://engines.example.org\r\n\
\r\n\
This email and any attachments are confidential and intended solely for the\r\n\
addressee. If you received it in error, please tell the sender and delete it.\r\n\
Nothing in this message is an offer or acceptance of any contract.\r\n",
        min = i % 60,
        sec = (i / 60) % 60,
        t0 = typed[0],
        t1 = typed[1],
        t2 = typed[2],
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replier() -> Replier {
        Replier {
            name: "Ada Lovelace".into(),
            email: "ada@example.org".into(),
            team: "Team 3".into(),
            reply_to: "reply+abc123@donebot.localhost".into(),
            prompt_message_id: "prompt.17@donebot.localhost".into(),
        }
    }

    #[test]
    fn a_reply_is_about_3_kb_threaded_to_its_prompt_and_trims_to_its_typed_lines() {
        let raw = reply_email(7, &replier(), "Tue, 3 Jun 2025");
        assert!((2000..4000).contains(&raw.len()), "{} bytes", raw.len());
        let parsed = bots::email::parse::parse(&raw).expect("the reply parses");
        assert_eq!(parsed.auto, None);
        assert_eq!(
            parsed.in_reply_to,
            vec!["prompt.17@donebot.localhost".to_owned()]
        );
        assert_eq!(parsed.to, vec!["reply+abc123@donebot.localhost".to_owned()]);
        let text = bots::email::trim::trim_reply(&parsed.text);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len() as u64, LINES, "{text:?}");
        assert!(
            lines[0].starts_with("Reviewed Zoë's pull request #7"),
            "{text:?}"
        );
    }

    #[test]
    fn dot_stuffing_doubles_leading_dots_and_ends_the_data() {
        assert_eq!(dot_stuffed(b"a\r\n.b\r\n"), b"a\r\n..b\r\n.\r\n");
        assert_eq!(dot_stuffed(b".x"), b"..x\r\n.\r\n");
    }
}
