#!/usr/bin/env python3
"""Writes ISO 20022 camt.054 / camt.053 documents (versions 02 and 08) for samples, the demo and benchmarks.

As a library: `write(path, kind, entries)`, an entry being a dict with amount (cents), ref (bank reference),
optional date, credit, booked, and txs: a list of dicts with amount, rf, text (list), name, iban, bank_ref.
"""
import sys

NS = "urn:iso:std:iso:20022:tech:xsd:"


def eur(cents):
    return "%d.%02d" % (cents // 100, cents % 100)


def rf(case_number):
    body = "".join(ch for ch in case_number.upper() if ch.isalnum())
    digits = "".join(str(int(ch, 36)) for ch in body + "RF00")
    return "RF%02d%s" % (98 - int(digits) % 97, body)


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def tx_xml(kind, t):
    v08 = kind.endswith(".08")
    amount = ('<Amt Ccy="EUR">%s</Amt><CdtDbtInd>CRDT</CdtDbtInd>' % eur(t["amount"]) if v08
              else '<AmtDtls><TxAmt><Amt Ccy="EUR">%s</Amt></TxAmt></AmtDtls>' % eur(t["amount"]))
    name = esc(t.get("name", "Max Mustermann"))
    party = "<Dbtr><Pty><Nm>%s</Nm></Pty></Dbtr>" % name if v08 else "<Dbtr><Nm>%s</Nm></Dbtr>" % name
    rmt = ""
    if t.get("rf"):
        rmt += ("<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>ISO</Issr></Tp>"
                "<Ref>%s</Ref></CdtrRefInf></Strd>" % t["rf"])
    for line in t.get("text", []):
        rmt += "<Ustrd>%s</Ustrd>" % esc(line)
    refs = "<Refs>%s<EndToEndId>NOTPROVIDED</EndToEndId></Refs>" % (
        "<AcctSvcrRef>%s</AcctSvcrRef>" % t["bank_ref"] if t.get("bank_ref") else "")
    return ("<TxDtls>%s%s<RltdPties>%s<DbtrAcct><Id><IBAN>%s</IBAN></Id></DbtrAcct></RltdPties>%s</TxDtls>"
            % (refs, amount, party, t.get("iban", "DE02120300000000202051"), "<RmtInf>%s</RmtInf>" % rmt if rmt else ""))


def entry_xml(kind, e):
    v08 = kind.endswith(".08")
    booked = "BOOK" if e.get("booked", True) else "PDNG"
    sts = "<Sts><Cd>%s</Cd></Sts>" % booked if v08 else "<Sts>%s</Sts>" % booked
    txs = e.get("txs", [])
    btch = ""
    if len(txs) > 1:
        btch = '<Btch><NbOfTxs>%d</NbOfTxs><TtlAmt Ccy="EUR">%s</TtlAmt></Btch>' % (len(txs), eur(e["amount"]))
    date = e.get("date", "2026-03-20")
    return ('<Ntry>\n  <Amt Ccy="EUR">%s</Amt>\n  <CdtDbtInd>%s</CdtDbtInd>\n  %s\n  <BookgDt><Dt>%s</Dt></BookgDt>'
            '<ValDt><Dt>%s</Dt></ValDt>\n  <AcctSvcrRef>%s</AcctSvcrRef>\n'
            '  <BkTxCd><Prtry><Cd>NTRF+166</Cd><Issr>DK</Issr></Prtry></BkTxCd>\n  <NtryDtls>%s\n    %s\n  </NtryDtls>\n</Ntry>\n'
            % (eur(e["amount"]), "CRDT" if e.get("credit", True) else "DBIT", sts, date, date, e["ref"], btch,
               "\n    ".join(tx_xml(kind, t) for t in txs)))


def write(path, kind, entries, iban="DE89370400440532013000"):
    root, inner = ("BkToCstmrDbtCdtNtfctn", "Ntfctn") if kind.startswith("camt.054") else ("BkToCstmrStmt", "Stmt")
    with open(path, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="%s%s">\n<%s>\n'
                '<GrpHdr><MsgId>LOTSE-%s</MsgId><CreDtTm>2026-03-20T06:00:00+01:00</CreDtTm></GrpHdr>\n'
                '<%s><Id>1</Id><Acct><Id><IBAN>%s</IBAN></Id></Acct>\n' % (NS, kind, root, kind, inner, iban))
        for e in entries:
            f.write(entry_xml(kind, e))
        f.write("</%s>\n</%s>\n</Document>\n" % (inner, root))


if __name__ == "__main__":
    # scripts/camt.py sample OUT: the sample statement shipped in pilot-data (for the sample exports' cases)
    if len(sys.argv) == 3 and sys.argv[1] == "sample":
        n = lambda i: "KL-2026-%07d" % i
        entries = [
            {"amount": 3500, "ref": "2026032000001", "txs": [{"amount": 3500, "rf": rf(n(1)), "name": "Anna Beispiel"}]},
            {"amount": 4000 + 1000 + 3000, "ref": "2026032000002", "txs": [  # Summengutschrift of three
                {"amount": 4000, "rf": rf(n(3)), "bank_ref": "2026032000002-1"},
                {"amount": 1000, "text": ["Verwarnung KL 2026 0000005"], "bank_ref": "2026032000002-2"},
                {"amount": 3000, "text": ["Verwarnungsgeld", " ".join(rf(n(25))[i:i + 4] for i in range(0, 17, 4)).lower()],
                 "bank_ref": "2026032000002-3"}]},
            {"amount": 2000, "ref": "2026032000003", "txs": [{"amount": 2000, "text": ["Az. kl-2026-0000010 Danke"]}]},
            {"amount": 1500, "ref": "2026032000004", "txs": [{"amount": 1500, "text": ["Parkticket Auto KL-XY 99"]}]},
            {"amount": 3000, "ref": "2026032000005", "txs": [{"amount": 3000, "rf": rf(n(2))}]},      # too little (55.00)
            {"amount": 3500, "ref": "2026032000006", "txs": [{"amount": 3500, "rf": rf(n(1))}]},      # paid twice
            {"amount": 12000, "ref": "2026032000007", "credit": False, "txs": [{"amount": 12000, "text": ["Gebuehren"]}]},
            {"amount": 2000, "ref": "2026032000008", "booked": False, "txs": [{"amount": 2000, "rf": rf(n(4))}]},
        ]
        write(sys.argv[2], "camt.054.001.08", entries)
    else:
        sys.exit("usage: camt.py sample OUT")
