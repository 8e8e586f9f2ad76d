"""Statements for the tests, shaped as banks send them."""

import datetime

CAMT_02 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
CAMT_08 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
SPACE_IBAN = "DE89370400440532013000"


def camt_party(name: str, iban: str, *, version: str = "02") -> str:
    name_xml = f"<Nm>{name}</Nm>" if version == "02" else f"<Pty><Nm>{name}</Nm></Pty>"
    account = f"<DbtrAcct><Id><IBAN>{iban}</IBAN></Id></DbtrAcct>" if iban else ""
    return f"<RltdPties><Dbtr>{name_xml}</Dbtr>{account}</RltdPties>"


def camt_details(
    *, name="", iban="", ustrd="", structured="", amount=None, currency="EUR", reference="", version="02"
) -> str:
    refs = f"<Refs><AcctSvcrRef>{reference}</AcctSvcrRef></Refs>" if reference else ""
    amount_xml = f'<Amt Ccy="{currency}">{amount}</Amt>' if amount is not None else ""
    remittance = ""
    if ustrd or structured:
        remittance = "<RmtInf>"
        if ustrd:
            remittance += f"<Ustrd>{ustrd}</Ustrd>"
        if structured:
            remittance += f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>{structured}</Ref></CdtrRefInf></Strd>"
        remittance += "</RmtInf>"
    return f"<TxDtls>{refs}{amount_xml}{camt_party(name, iban, version=version)}{remittance}</TxDtls>"


def camt_entry(
    *,
    amount: str,
    reference: str,
    details: list[str] = (),
    currency: str = "EUR",
    indicator: str = "CRDT",
    booked: datetime.date | None = None,
    status: str = "BOOK",
    version: str = "02",
) -> str:
    booked = booked or datetime.date.today()
    status_xml = f"<Sts>{status}</Sts>" if version == "02" else f"<Sts><Cd>{status}</Cd></Sts>"
    batch = f"<Btch><NbOfTxs>{len(details)}</NbOfTxs></Btch>" if len(details) > 1 else ""
    entry_details = f"<NtryDtls>{batch}{''.join(details)}</NtryDtls>" if details else ""
    return (
        f'<Ntry><Amt Ccy="{currency}">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>{status_xml}'
        f"<BookgDt><Dt>{booked.isoformat()}</Dt></BookgDt><ValDt><Dt>{booked.isoformat()}</Dt></ValDt>"
        f"<AcctSvcrRef>{reference}</AcctSvcrRef>{entry_details}</Ntry>"
    )


def camt_statement(entries: list[str], *, version: str = "02") -> bytes:
    namespace = CAMT_02 if version == "02" else CAMT_08
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{namespace}">\n<BkToCstmrStmt>'
        "<GrpHdr><MsgId>TEST</MsgId><CreDtTm>2026-01-01T00:00:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>S1</Id><Acct><Id><IBAN>{SPACE_IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>\n"
        + "\n".join(entries)
        + "\n</Stmt></BkToCstmrStmt></Document>\n"
    ).encode()


def mt940_statement(lines: list[tuple[str, str, str, str]], *, booked: datetime.date | None = None) -> bytes:
    """`lines`: (C or D, amount with a decimal comma, bank reference, :86: text)."""
    booked = booked or datetime.date.today()
    day = booked.strftime("%y%m%d")
    text = [":20:TEST", f":25:{SPACE_IBAN}", ":28C:1/1", f":60F:C{day}EUR1000,00"]
    for mark, amount, reference, details in lines:
        text.append(f":61:{day}{booked:%m%d}{mark}{amount}NTRFNONREF//{reference}")
        text.append(f":86:{details}")
    text += [f":62F:C{day}EUR1000,00", "-"]
    return ("\n".join(text) + "\n").encode()


CSV_HEADER = "Booking date;Amount;Currency;Name;IBAN;Purpose;Bank reference"


def csv_statement(rows: list[str]) -> bytes:
    return ("\n".join([CSV_HEADER, *rows]) + "\n").encode()


_counter = iter(range(1, 10**9))


def transfer(
    amount: str,
    *,
    remittance: str = "",
    iban: str = "",
    name: str = "Payer",
    currency: str = "EUR",
    indicator: str = "CRDT",
    booked: datetime.date | None = None,
):
    """One incoming transfer, imported as a one-entry CAMT.053 statement; returns its bank transaction (with the
    match proposed at import)."""
    from bank.models import BankTransaction
    from bank.services.statement_import import statement_import
    from tests.factories import SYSTEM

    reference = f"T-{next(_counter)}"
    data = camt_statement(
        [
            camt_entry(
                amount=amount,
                reference=reference,
                currency=currency,
                indicator=indicator,
                booked=booked,
                details=[camt_details(name=name, iban=iban, ustrd=remittance)],
            )
        ]
    )
    statement_import(data=data, file_name="t.xml", file_format="camt053", actor=SYSTEM)
    return BankTransaction.objects.get(bank_reference=reference)
