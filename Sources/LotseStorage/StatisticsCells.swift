import GRDB
import LotseCore

/// The pilot statistics' cells: the one place that says how a case counts.
///
/// A cell is one (Berlin issue day, QR printed, deadline) with its counters; `stats_pay_times` holds the
/// quarter-day buckets of issue-to-payment times per day and channel, `stats_langs` the first page language
/// per day. A case contributes, as a row `R` of `cases`:
///
/// | column         | contribution of `R`                                                        |
/// |----------------|----------------------------------------------------------------------------|
/// | `issued`       | `R.status IS NOT 'cancelled'`                                              |
/// | `scanned`      | not cancelled and `R.first_viewed_at IS NOT NULL`                          |
/// | `handoff`      | not cancelled and `R.handoff_at IS NOT NULL`                               |
/// | `paid`         | `R.status IS 'paid'`                                                       |
/// | `paid_paypal`  | paid online: paid and `R.paid_channel` is `paypal` or `epayment` (v16)     |
/// | `paid_bank`, `paid_cash` | paid and `R.paid_channel` is `bank_transfer`, `cash`             |
/// | `paid_on_time` | paid and `R.paid_at` before the end of the deadline day (`deadline_ends`)  |
/// | `reminded`     | not cancelled and `R.reminded_at IS NOT NULL`                              |
/// | pay time       | paid: one in bucket `(R.paid_at - R.issued_at) / 21600` of its day and channel |
/// | language       | not cancelled: one for `R.view_lang` of its day, if there is one           |
/// | status         | one in `stats_status` for `R.status` (the `/metrics` gauges; migration v11) |
///
/// Money, in cents, per Berlin issue day in `stats_money` (migration v19):
///
/// | column         | contribution of `R`                                                        |
/// |----------------|----------------------------------------------------------------------------|
/// | `fines`        | not cancelled: `R.amount_cents`                                            |
/// | `paid_online`  | paid and `R.paid_channel` is `paypal` or `epayment`: `R.amount_cents`      |
/// | `paid_bank`, `paid_cash` | paid and `R.paid_channel` is `bank_transfer`, `cash`: `R.amount_cents` |
/// | `part_paid`    | open, overdue, reminded or handed over: `R.received_cents` (parts received) |
/// | `outstanding`  | open, overdue or reminded: `R.amount_cents - R.received_cents` (not below 0) |
/// | `handed_over`  | handed over: `R.amount_cents - R.received_cents` (not below 0)             |
///
/// A case paid in parts counts with the channel of the payment that completed it, as in `paid_*` above; money
/// beyond the fine (a double payment) is on the refund list, not collected.
///
/// Two pieces of SQL apply this table and must agree; they stand next to each other here:
/// - the **fold** (`fold`): cases with an id above `stats_state.last_case_id` are summed into the cells, once,
///   when the statistics are next read (an import pays nothing for statistics);
/// - the **triggers** (migration `v10-stats-cells-triggers`): a later change to a folded case (paid, viewed,
///   reminded, cancelled, moved to another cell, deleted) takes the old row's contribution out and puts the new
///   row's in. They are frozen migration SQL: a change to them is a new migration, and the property test
///   `StatisticsCellsTests` checks that what they maintain equals folding every case from scratch.
///
/// `rebuild` (`lotse stats --rebuild`) empties the cells and folds every case again in one write transaction.
/// Limit: a case inserted with an explicit id below the newest folded one is not folded (Lotse never does that;
/// the id SQLite reuses after the newest case is deleted is handled by the delete trigger); a rebuild counts it.
public enum StatisticsCells {
    // MARK: the fold

    /// Folds the cases not yet counted into the cells; runs inside a write transaction. Returns how many
    /// cases were folded.
    @discardableResult
    public static func fold(_ db: Database) throws -> Int {
        let last = try Int64.fetchOne(db, sql: "SELECT last_case_id FROM stats_state WHERE id = 1") ?? 0
        guard let top = try Int64.fetchOne(db, sql: "SELECT max(id) FROM cases"), top > last else { return 0 }
        let range: StatementArguments = [last, top]
        try db.execute(
            sql: """
                INSERT INTO stats_cells (day, qr, deadline, issued, scanned, handoff, paid, paid_paypal, paid_bank, paid_cash,
                                         paid_on_time, reminded)
                SELECT c.issued_day, c.qr_printed, c.deadline,
                       sum(c.status IS NOT 'cancelled'),
                       sum(c.status IS NOT 'cancelled' AND c.first_viewed_at IS NOT NULL),
                       sum(c.status IS NOT 'cancelled' AND c.handoff_at IS NOT NULL),
                       sum(c.status IS 'paid'),
                       sum(c.status IS 'paid' AND c.paid_channel IN ('paypal', 'epayment')),
                       sum(c.status IS 'paid' AND c.paid_channel IS 'bank_transfer'),
                       sum(c.status IS 'paid' AND c.paid_channel IS 'cash'),
                       sum(c.status IS 'paid' AND coalesce(c.paid_at < d.end_utc, 0)),
                       sum(c.status IS NOT 'cancelled' AND c.reminded_at IS NOT NULL)
                FROM cases c LEFT JOIN deadline_ends d ON d.deadline = c.deadline
                WHERE c.id > ?1 AND c.id <= ?2
                GROUP BY c.issued_day, c.qr_printed, c.deadline
                ON CONFLICT (day, qr, deadline) DO UPDATE SET issued = issued + excluded.issued, scanned = scanned + excluded.scanned,
                    handoff = handoff + excluded.handoff, paid = paid + excluded.paid, paid_paypal = paid_paypal + excluded.paid_paypal,
                    paid_bank = paid_bank + excluded.paid_bank, paid_cash = paid_cash + excluded.paid_cash,
                    paid_on_time = paid_on_time + excluded.paid_on_time, reminded = reminded + excluded.reminded
                """,
            arguments: range
        )
        try db.execute(
            sql: """
                INSERT INTO stats_pay_times (day, channel, bucket, n)
                SELECT issued_day, paid_channel, (paid_at - issued_at) / 21600, count(*) FROM cases
                WHERE id > ?1 AND id <= ?2 AND status IS 'paid' AND paid_at IS NOT NULL AND paid_channel IS NOT NULL
                GROUP BY issued_day, paid_channel, (paid_at - issued_at) / 21600
                ON CONFLICT (day, channel, bucket) DO UPDATE SET n = n + excluded.n
                """,
            arguments: range
        )
        try db.execute(
            sql: """
                INSERT INTO stats_langs (day, lang, n)
                SELECT issued_day, view_lang, count(*) FROM cases
                WHERE id > ?1 AND id <= ?2 AND status IS NOT 'cancelled' AND view_lang IS NOT NULL
                GROUP BY issued_day, view_lang
                ON CONFLICT (day, lang) DO UPDATE SET n = n + excluded.n
                """,
            arguments: range
        )
        try db.execute(
            sql: """
                INSERT INTO stats_money (day, fines, paid_online, paid_bank, paid_cash, part_paid, outstanding, handed_over)
                SELECT issued_day,
                       sum((status IS NOT 'cancelled') * amount_cents),
                       sum((status IS 'paid' AND paid_channel IN ('paypal', 'epayment')) * amount_cents),
                       sum((status IS 'paid' AND paid_channel IS 'bank_transfer') * amount_cents),
                       sum((status IS 'paid' AND paid_channel IS 'cash') * amount_cents),
                       sum((status IN ('open', 'overdue', 'reminded', 'handed_over')) * received_cents),
                       sum((status IN ('open', 'overdue', 'reminded')) * max(amount_cents - received_cents, 0)),
                       sum((status IS 'handed_over') * max(amount_cents - received_cents, 0))
                FROM cases WHERE id > ?1 AND id <= ?2 GROUP BY issued_day
                ON CONFLICT (day) DO UPDATE SET fines = fines + excluded.fines, paid_online = paid_online + excluded.paid_online,
                    paid_bank = paid_bank + excluded.paid_bank, paid_cash = paid_cash + excluded.paid_cash,
                    part_paid = part_paid + excluded.part_paid, outstanding = outstanding + excluded.outstanding,
                    handed_over = handed_over + excluded.handed_over
                """,
            arguments: range
        )
        try db.execute(
            sql: """
                INSERT INTO stats_status (status, n)
                SELECT status, count(*) FROM cases WHERE id > ?1 AND id <= ?2 GROUP BY status
                ON CONFLICT (status) DO UPDATE SET n = n + excluded.n
                """,
            arguments: range
        )
        try db.execute(sql: "UPDATE stats_state SET last_case_id = ?2 WHERE id = 1", arguments: range)
        return try Int.fetchOne(db, sql: "SELECT count(*) FROM cases WHERE id > ?1 AND id <= ?2", arguments: range) ?? 0
    }

    /// Whether cases wait to be folded (a read: the statistics take the write lock only when there is work).
    static func needsFold(_ db: Database) throws -> Bool {
        let last = try Int64.fetchOne(db, sql: "SELECT last_case_id FROM stats_state WHERE id = 1") ?? 0
        let top = try Int64.fetchOne(db, sql: "SELECT max(id) FROM cases") ?? 0
        return top > last
    }

    // MARK: the triggers (frozen: a change is a new migration)

    /// Replaces v5's `cases_stats` (which assumed a case never leaves its cell and is never deleted) by three
    /// triggers that apply the table above to the old and the new row of a folded case.
    static func migrateV10(_ db: Database) throws {
        try db.execute(
            sql: """
                DROP TRIGGER IF EXISTS cases_stats;

                -- A folded case changes and stays in its cell: the cell takes the difference of the new and the old row.
                CREATE TRIGGER stats_case_changed AFTER UPDATE OF status, paid_channel, paid_at, first_viewed_at, view_lang,
                    handoff_at, reminded_at, issued_day, issued_at, qr_printed, deadline ON cases
                WHEN OLD.id <= (SELECT last_case_id FROM stats_state WHERE id = 1)
                    AND NEW.issued_day IS OLD.issued_day AND NEW.qr_printed IS OLD.qr_printed AND NEW.deadline IS OLD.deadline
                BEGIN
                    UPDATE stats_cells SET
                        issued = issued - (OLD.status IS NOT 'cancelled') + (NEW.status IS NOT 'cancelled'),
                        scanned = scanned - (OLD.status IS NOT 'cancelled' AND OLD.first_viewed_at IS NOT NULL)
                            + (NEW.status IS NOT 'cancelled' AND NEW.first_viewed_at IS NOT NULL),
                        handoff = handoff - (OLD.status IS NOT 'cancelled' AND OLD.handoff_at IS NOT NULL)
                            + (NEW.status IS NOT 'cancelled' AND NEW.handoff_at IS NOT NULL),
                        paid = paid - (OLD.status IS 'paid') + (NEW.status IS 'paid'),
                        paid_paypal = paid_paypal - (OLD.status IS 'paid' AND OLD.paid_channel IS 'paypal')
                            + (NEW.status IS 'paid' AND NEW.paid_channel IS 'paypal'),
                        paid_bank = paid_bank - (OLD.status IS 'paid' AND OLD.paid_channel IS 'bank_transfer')
                            + (NEW.status IS 'paid' AND NEW.paid_channel IS 'bank_transfer'),
                        paid_cash = paid_cash - (OLD.status IS 'paid' AND OLD.paid_channel IS 'cash')
                            + (NEW.status IS 'paid' AND NEW.paid_channel IS 'cash'),
                        paid_on_time = paid_on_time
                            - (OLD.status IS 'paid' AND coalesce(OLD.paid_at < (SELECT end_utc FROM deadline_ends e WHERE e.deadline = OLD.deadline), 0))
                            + (NEW.status IS 'paid' AND coalesce(NEW.paid_at < (SELECT end_utc FROM deadline_ends e WHERE e.deadline = NEW.deadline), 0)),
                        reminded = reminded - (OLD.status IS NOT 'cancelled' AND OLD.reminded_at IS NOT NULL)
                            + (NEW.status IS NOT 'cancelled' AND NEW.reminded_at IS NOT NULL)
                    WHERE day = NEW.issued_day AND qr = NEW.qr_printed AND deadline = NEW.deadline;
                    UPDATE stats_pay_times SET n = n - 1
                    WHERE OLD.status IS 'paid' AND OLD.paid_at IS NOT NULL AND OLD.paid_channel IS NOT NULL
                        AND day = OLD.issued_day AND channel = OLD.paid_channel AND bucket = (OLD.paid_at - OLD.issued_at) / 21600;
                    INSERT INTO stats_pay_times (day, channel, bucket, n)
                    SELECT NEW.issued_day, NEW.paid_channel, (NEW.paid_at - NEW.issued_at) / 21600, 1
                    WHERE NEW.status IS 'paid' AND NEW.paid_at IS NOT NULL AND NEW.paid_channel IS NOT NULL
                    ON CONFLICT (day, channel, bucket) DO UPDATE SET n = n + 1;
                    UPDATE stats_langs SET n = n - 1
                    WHERE OLD.status IS NOT 'cancelled' AND OLD.view_lang IS NOT NULL AND day = OLD.issued_day AND lang = OLD.view_lang;
                    INSERT INTO stats_langs (day, lang, n)
                    SELECT NEW.issued_day, NEW.view_lang, 1 WHERE NEW.status IS NOT 'cancelled' AND NEW.view_lang IS NOT NULL
                    ON CONFLICT (day, lang) DO UPDATE SET n = n + 1;
                END;

                -- A folded case moves to another cell (its day, QR flag or deadline changed): the old row leaves its
                -- cell, the new row enters its own.
                CREATE TRIGGER stats_case_moved AFTER UPDATE OF issued_day, qr_printed, deadline ON cases
                WHEN OLD.id <= (SELECT last_case_id FROM stats_state WHERE id = 1)
                    AND NOT (NEW.issued_day IS OLD.issued_day AND NEW.qr_printed IS OLD.qr_printed AND NEW.deadline IS OLD.deadline)
                BEGIN
                    UPDATE stats_cells SET
                        issued = issued - (OLD.status IS NOT 'cancelled'),
                        scanned = scanned - (OLD.status IS NOT 'cancelled' AND OLD.first_viewed_at IS NOT NULL),
                        handoff = handoff - (OLD.status IS NOT 'cancelled' AND OLD.handoff_at IS NOT NULL),
                        paid = paid - (OLD.status IS 'paid'),
                        paid_paypal = paid_paypal - (OLD.status IS 'paid' AND OLD.paid_channel IS 'paypal'),
                        paid_bank = paid_bank - (OLD.status IS 'paid' AND OLD.paid_channel IS 'bank_transfer'),
                        paid_cash = paid_cash - (OLD.status IS 'paid' AND OLD.paid_channel IS 'cash'),
                        paid_on_time = paid_on_time
                            - (OLD.status IS 'paid' AND coalesce(OLD.paid_at < (SELECT end_utc FROM deadline_ends e WHERE e.deadline = OLD.deadline), 0)),
                        reminded = reminded - (OLD.status IS NOT 'cancelled' AND OLD.reminded_at IS NOT NULL)
                    WHERE day = OLD.issued_day AND qr = OLD.qr_printed AND deadline = OLD.deadline;
                    INSERT INTO stats_cells (day, qr, deadline, issued, scanned, handoff, paid, paid_paypal, paid_bank, paid_cash,
                                             paid_on_time, reminded)
                    SELECT NEW.issued_day, NEW.qr_printed, NEW.deadline,
                        NEW.status IS NOT 'cancelled',
                        NEW.status IS NOT 'cancelled' AND NEW.first_viewed_at IS NOT NULL,
                        NEW.status IS NOT 'cancelled' AND NEW.handoff_at IS NOT NULL,
                        NEW.status IS 'paid',
                        NEW.status IS 'paid' AND NEW.paid_channel IS 'paypal',
                        NEW.status IS 'paid' AND NEW.paid_channel IS 'bank_transfer',
                        NEW.status IS 'paid' AND NEW.paid_channel IS 'cash',
                        NEW.status IS 'paid' AND coalesce(NEW.paid_at < (SELECT end_utc FROM deadline_ends e WHERE e.deadline = NEW.deadline), 0),
                        NEW.status IS NOT 'cancelled' AND NEW.reminded_at IS NOT NULL
                    WHERE true
                    ON CONFLICT (day, qr, deadline) DO UPDATE SET issued = issued + excluded.issued, scanned = scanned + excluded.scanned,
                        handoff = handoff + excluded.handoff, paid = paid + excluded.paid, paid_paypal = paid_paypal + excluded.paid_paypal,
                        paid_bank = paid_bank + excluded.paid_bank, paid_cash = paid_cash + excluded.paid_cash,
                        paid_on_time = paid_on_time + excluded.paid_on_time, reminded = reminded + excluded.reminded;
                    UPDATE stats_pay_times SET n = n - 1
                    WHERE OLD.status IS 'paid' AND OLD.paid_at IS NOT NULL AND OLD.paid_channel IS NOT NULL
                        AND day = OLD.issued_day AND channel = OLD.paid_channel AND bucket = (OLD.paid_at - OLD.issued_at) / 21600;
                    INSERT INTO stats_pay_times (day, channel, bucket, n)
                    SELECT NEW.issued_day, NEW.paid_channel, (NEW.paid_at - NEW.issued_at) / 21600, 1
                    WHERE NEW.status IS 'paid' AND NEW.paid_at IS NOT NULL AND NEW.paid_channel IS NOT NULL
                    ON CONFLICT (day, channel, bucket) DO UPDATE SET n = n + 1;
                    UPDATE stats_langs SET n = n - 1
                    WHERE OLD.status IS NOT 'cancelled' AND OLD.view_lang IS NOT NULL AND day = OLD.issued_day AND lang = OLD.view_lang;
                    INSERT INTO stats_langs (day, lang, n)
                    SELECT NEW.issued_day, NEW.view_lang, 1 WHERE NEW.status IS NOT 'cancelled' AND NEW.view_lang IS NOT NULL
                    ON CONFLICT (day, lang) DO UPDATE SET n = n + 1;
                END;

                -- A folded case is deleted: its row leaves its cell. When it was the newest case, SQLite gives its id to
                -- the next case inserted: the fold's mark goes back to the newest remaining case so that one is folded.
                CREATE TRIGGER stats_case_deleted AFTER DELETE ON cases
                WHEN OLD.id <= (SELECT last_case_id FROM stats_state WHERE id = 1)
                BEGIN
                    UPDATE stats_cells SET
                        issued = issued - (OLD.status IS NOT 'cancelled'),
                        scanned = scanned - (OLD.status IS NOT 'cancelled' AND OLD.first_viewed_at IS NOT NULL),
                        handoff = handoff - (OLD.status IS NOT 'cancelled' AND OLD.handoff_at IS NOT NULL),
                        paid = paid - (OLD.status IS 'paid'),
                        paid_paypal = paid_paypal - (OLD.status IS 'paid' AND OLD.paid_channel IS 'paypal'),
                        paid_bank = paid_bank - (OLD.status IS 'paid' AND OLD.paid_channel IS 'bank_transfer'),
                        paid_cash = paid_cash - (OLD.status IS 'paid' AND OLD.paid_channel IS 'cash'),
                        paid_on_time = paid_on_time
                            - (OLD.status IS 'paid' AND coalesce(OLD.paid_at < (SELECT end_utc FROM deadline_ends e WHERE e.deadline = OLD.deadline), 0)),
                        reminded = reminded - (OLD.status IS NOT 'cancelled' AND OLD.reminded_at IS NOT NULL)
                    WHERE day = OLD.issued_day AND qr = OLD.qr_printed AND deadline = OLD.deadline;
                    UPDATE stats_pay_times SET n = n - 1
                    WHERE OLD.status IS 'paid' AND OLD.paid_at IS NOT NULL AND OLD.paid_channel IS NOT NULL
                        AND day = OLD.issued_day AND channel = OLD.paid_channel AND bucket = (OLD.paid_at - OLD.issued_at) / 21600;
                    UPDATE stats_langs SET n = n - 1
                    WHERE OLD.status IS NOT 'cancelled' AND OLD.view_lang IS NOT NULL AND day = OLD.issued_day AND lang = OLD.view_lang;
                    UPDATE stats_state SET last_case_id = (SELECT coalesce(max(id), 0) FROM cases)
                    WHERE id = 1 AND last_case_id > (SELECT coalesce(max(id), 0) FROM cases);
                END;
                """
        )
    }

    /// Payments through the city's e-payment platform (channel `epayment`) count as paid online, as PayPal's do: v10's
    /// three triggers are made again from their stored text with `paid_channel IS 'paypal'` widened. Frozen: the
    /// replaced and the replacing text are literals here.
    static func migrateV16(_ db: Database) throws {
        for name in ["stats_case_changed", "stats_case_moved", "stats_case_deleted"] {
            guard let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = ?", arguments: [name])
            else { throw LotseError.io("migration v16: trigger \(name) is missing") }
            let widened = sql.replacingOccurrences(of: "paid_channel IS 'paypal'", with: "paid_channel IN ('paypal', 'epayment')")
            guard widened != sql else { throw LotseError.io("migration v16: trigger \(name) does not count PayPal") }
            try db.execute(sql: "DROP TRIGGER " + name)
            try db.execute(sql: widened)
        }
    }

    /// Money per issue day (`stats_money`, the second table above): filled from the cases folded so far, then kept
    /// like the cells. One trigger takes a changed case's old contribution out of its old day and puts the new one
    /// into its new day; the delete trigger runs BEFORE the delete, as v11's does, so that v10's trigger, which may
    /// move the fold mark back, cannot hide the case from it.
    static func migrateV19(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE stats_money (
                    day TEXT PRIMARY KEY,
                    fines INTEGER NOT NULL DEFAULT 0,
                    paid_online INTEGER NOT NULL DEFAULT 0,
                    paid_bank INTEGER NOT NULL DEFAULT 0,
                    paid_cash INTEGER NOT NULL DEFAULT 0,
                    part_paid INTEGER NOT NULL DEFAULT 0,
                    outstanding INTEGER NOT NULL DEFAULT 0,
                    handed_over INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                INSERT INTO stats_money (day, fines, paid_online, paid_bank, paid_cash, part_paid, outstanding, handed_over)
                SELECT issued_day,
                       sum((status IS NOT 'cancelled') * amount_cents),
                       sum((status IS 'paid' AND paid_channel IN ('paypal', 'epayment')) * amount_cents),
                       sum((status IS 'paid' AND paid_channel IS 'bank_transfer') * amount_cents),
                       sum((status IS 'paid' AND paid_channel IS 'cash') * amount_cents),
                       sum((status IN ('open', 'overdue', 'reminded', 'handed_over')) * received_cents),
                       sum((status IN ('open', 'overdue', 'reminded')) * max(amount_cents - received_cents, 0)),
                       sum((status IS 'handed_over') * max(amount_cents - received_cents, 0))
                FROM cases WHERE id <= (SELECT last_case_id FROM stats_state WHERE id = 1) GROUP BY issued_day;

                CREATE TRIGGER stats_money_changed AFTER UPDATE OF status, paid_channel, amount_cents, received_cents, issued_day ON cases
                WHEN OLD.id <= (SELECT last_case_id FROM stats_state WHERE id = 1)
                BEGIN
                    UPDATE stats_money SET
                        fines = fines - (OLD.status IS NOT 'cancelled') * OLD.amount_cents,
                        paid_online = paid_online - (OLD.status IS 'paid' AND OLD.paid_channel IN ('paypal', 'epayment')) * OLD.amount_cents,
                        paid_bank = paid_bank - (OLD.status IS 'paid' AND OLD.paid_channel IS 'bank_transfer') * OLD.amount_cents,
                        paid_cash = paid_cash - (OLD.status IS 'paid' AND OLD.paid_channel IS 'cash') * OLD.amount_cents,
                        part_paid = part_paid - (OLD.status IN ('open', 'overdue', 'reminded', 'handed_over')) * OLD.received_cents,
                        outstanding = outstanding
                            - (OLD.status IN ('open', 'overdue', 'reminded')) * max(OLD.amount_cents - OLD.received_cents, 0),
                        handed_over = handed_over - (OLD.status IS 'handed_over') * max(OLD.amount_cents - OLD.received_cents, 0)
                    WHERE day = OLD.issued_day;
                    INSERT INTO stats_money (day, fines, paid_online, paid_bank, paid_cash, part_paid, outstanding, handed_over)
                    SELECT NEW.issued_day,
                        (NEW.status IS NOT 'cancelled') * NEW.amount_cents,
                        (NEW.status IS 'paid' AND NEW.paid_channel IN ('paypal', 'epayment')) * NEW.amount_cents,
                        (NEW.status IS 'paid' AND NEW.paid_channel IS 'bank_transfer') * NEW.amount_cents,
                        (NEW.status IS 'paid' AND NEW.paid_channel IS 'cash') * NEW.amount_cents,
                        (NEW.status IN ('open', 'overdue', 'reminded', 'handed_over')) * NEW.received_cents,
                        (NEW.status IN ('open', 'overdue', 'reminded')) * max(NEW.amount_cents - NEW.received_cents, 0),
                        (NEW.status IS 'handed_over') * max(NEW.amount_cents - NEW.received_cents, 0)
                    WHERE true
                    ON CONFLICT (day) DO UPDATE SET fines = fines + excluded.fines, paid_online = paid_online + excluded.paid_online,
                        paid_bank = paid_bank + excluded.paid_bank, paid_cash = paid_cash + excluded.paid_cash,
                        part_paid = part_paid + excluded.part_paid, outstanding = outstanding + excluded.outstanding,
                        handed_over = handed_over + excluded.handed_over;
                END;

                CREATE TRIGGER stats_money_deleted BEFORE DELETE ON cases
                WHEN OLD.id <= (SELECT last_case_id FROM stats_state WHERE id = 1)
                BEGIN
                    UPDATE stats_money SET
                        fines = fines - (OLD.status IS NOT 'cancelled') * OLD.amount_cents,
                        paid_online = paid_online - (OLD.status IS 'paid' AND OLD.paid_channel IN ('paypal', 'epayment')) * OLD.amount_cents,
                        paid_bank = paid_bank - (OLD.status IS 'paid' AND OLD.paid_channel IS 'bank_transfer') * OLD.amount_cents,
                        paid_cash = paid_cash - (OLD.status IS 'paid' AND OLD.paid_channel IS 'cash') * OLD.amount_cents,
                        part_paid = part_paid - (OLD.status IN ('open', 'overdue', 'reminded', 'handed_over')) * OLD.received_cents,
                        outstanding = outstanding
                            - (OLD.status IN ('open', 'overdue', 'reminded')) * max(OLD.amount_cents - OLD.received_cents, 0),
                        handed_over = handed_over - (OLD.status IS 'handed_over') * max(OLD.amount_cents - OLD.received_cents, 0)
                    WHERE day = OLD.issued_day;
                END;
                """
        )
    }

    /// Cases per status for the `/metrics` gauges, kept like the cells: new cases are folded with them, and a
    /// folded case's change of status (or its deletion) moves its count. The delete trigger runs BEFORE the
    /// delete, so that v10's trigger, which may move the fold mark back, cannot hide the case from it.
    static func migrateV11(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE stats_status (status TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO stats_status (status, n)
                SELECT status, count(*) FROM cases WHERE id <= (SELECT last_case_id FROM stats_state WHERE id = 1) GROUP BY status;

                CREATE TRIGGER stats_status_changed AFTER UPDATE OF status ON cases
                WHEN OLD.id <= (SELECT last_case_id FROM stats_state WHERE id = 1) AND OLD.status IS NOT NEW.status
                BEGIN
                    UPDATE stats_status SET n = n - 1 WHERE status = OLD.status;
                    INSERT INTO stats_status (status, n) VALUES (NEW.status, 1) ON CONFLICT (status) DO UPDATE SET n = n + 1;
                END;

                CREATE TRIGGER stats_status_deleted BEFORE DELETE ON cases
                WHEN OLD.id <= (SELECT last_case_id FROM stats_state WHERE id = 1)
                BEGIN
                    UPDATE stats_status SET n = n - 1 WHERE status = OLD.status;
                END;
                """
        )
    }

    // MARK: rebuild and snapshot

    /// Empties the cells and folds every case again (inside one write transaction); deadlines whose end is
    /// missing are noted first.
    public static func rebuild(_ db: Database) throws -> StatisticsRebuild {
        let before = try snapshot(db)
        for text in try String.fetchAll(
            db,
            sql: """
                SELECT DISTINCT deadline FROM cases WHERE deadline NOT IN (SELECT deadline FROM deadline_ends)
                """
        ) {
            if let day = CivilDate(iso: text) { try Schema.noteDeadline(db, day) }
        }
        try db.execute(
            sql: """
                DELETE FROM stats_cells;
                DELETE FROM stats_pay_times;
                DELETE FROM stats_langs;
                DELETE FROM stats_status;
                DELETE FROM stats_money;
                UPDATE stats_state SET last_case_id = 0 WHERE id = 1;
                """
        )
        let cases = try fold(db)
        let after = try snapshot(db)
        return StatisticsRebuild(
            cases: cases,
            cells: after.cells.count,
            payTimeBuckets: after.payTimes.count,
            languageCounts: after.languages.count,
            repaired: before.differences(from: after)
        )
    }

    /// Every cell, pay-time bucket and language count that is not zero.
    public static func snapshot(_ db: Database) throws -> StatisticsSnapshot {
        var result = StatisticsSnapshot()
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT day, qr, deadline, issued, scanned, handoff, paid, paid_paypal, paid_bank, paid_cash, paid_on_time, reminded
                FROM stats_cells ORDER BY day, qr, deadline
                """
        ) {
            let counts = (3...11).map { row[$0] as Int }
            guard counts.contains(where: { $0 != 0 }) else { continue }
            result.cells[StatisticsSnapshot.CellKey(day: row[0], qrPrinted: row[1], deadline: row[2])] = counts
        }
        for row in try Row.fetchAll(db, sql: "SELECT day, channel, bucket, n FROM stats_pay_times WHERE n != 0") {
            result.payTimes[StatisticsSnapshot.PayTimeKey(day: row[0], channel: row[1], bucket: row[2])] = row[3]
        }
        for row in try Row.fetchAll(db, sql: "SELECT day, lang, n FROM stats_langs WHERE n != 0") {
            result.languages[StatisticsSnapshot.LanguageKey(day: row[0], language: row[1])] = row[2]
        }
        for row in try Row.fetchAll(db, sql: "SELECT status, n FROM stats_status WHERE n != 0") {
            result.statuses[row[0]] = row[1]
        }
        for row in try Row.fetchAll(
            db,
            sql: "SELECT day, fines, paid_online, paid_bank, paid_cash, part_paid, outstanding, handed_over FROM stats_money"
        ) {
            let sums = (1...7).map { row[$0] as Int }
            guard sums.contains(where: { $0 != 0 }) else { continue }
            result.money[row[0]] = sums
        }
        return result
    }

    // MARK: reading a period

    /// The sums of the cells for a period, by month, QR flag and whether the reminder could have been sent
    /// (deadline before `matureBefore`), with the unmatched transfers, payment times and languages of the period.
    /// Every query is bounded by the data (index ranges of the cells and of the unmatched payments), not by the
    /// length of the period. `from` nil: from the first day with data.
    public static func read(_ db: Database, from: CivilDate?, to: CivilDate, matureBefore: CivilDate) throws -> StatisticsReading {
        let firstDay = try String.fetchOne(db, sql: "SELECT min(day) FROM stats_cells").flatMap(CivilDate.init(iso:))
        let lastDay = try String.fetchOne(db, sql: "SELECT max(day) FROM stats_cells").flatMap(CivilDate.init(iso:))
        let unmatchedRange = try Row.fetchOne(
            db,
            sql: """
                SELECT min(paid_at), max(paid_at) FROM payments WHERE disposition = 'unmatched'
                """
        )
        let firstUnmatched = (unmatchedRange?[0] as Int64?).map { BerlinTime.local($0).date }
        let lastUnmatched = (unmatchedRange?[1] as Int64?).map { BerlinTime.local($0).date }
        var reading = StatisticsReading(from: from ?? firstDay ?? to, to: to)
        reading.firstDataDay = [firstDay, firstUnmatched].compactMap { $0 }.min()
        reading.lastDataDay = [lastDay, lastUnmatched].compactMap { $0 }.max()
        guard reading.from <= to else { return reading }
        let period: StatementArguments = [reading.from.description, to.description]
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT substr(day, 1, 7), qr, deadline < ?, sum(issued), sum(scanned), sum(handoff), sum(paid), sum(paid_paypal),
                       sum(paid_bank), sum(paid_cash), sum(paid_on_time), sum(reminded)
                FROM stats_cells WHERE day >= ? AND day <= ? GROUP BY 1, 2, 3
                """,
            arguments: [matureBefore.description] + period
        ) {
            let counts = StatisticsCounts(
                issued: row[3],
                scanned: row[4],
                handoff: row[5],
                paid: row[6],
                paidPayPal: row[7],
                paidBankTransfer: row[8],
                paidCash: row[9],
                paidOnTime: row[10],
                reminded: row[11]
            )
            reading.months.append(StatisticsMonth(month: row[0], qrPrinted: row[1], mature: row[2], counts: counts))
        }
        let start = BerlinTime.utc(date: reading.from, hour: 0, minute: 0)
        let end = BerlinTime.utc(date: to.adding(days: 1), hour: 0, minute: 0)
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT paid_at / 3600 AS h, count(*) FROM payments WHERE disposition = 'unmatched' AND paid_at >= ? AND paid_at < ? GROUP BY h
                """,
            arguments: [start, end]
        ) {
            reading.unmatchedByHour.append(StatisticsReading.HourCount(hour: row[0], count: row[1]))
        }
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT channel, bucket, sum(n) FROM stats_pay_times WHERE day >= ? AND day <= ? GROUP BY channel, bucket
                HAVING sum(n) > 0 ORDER BY channel, bucket
                """,
            arguments: period
        ) {
            reading.payTimes.append(StatisticsReading.PayTimeBucket(channel: row[0], bucket: row[1], count: row[2]))
        }
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT lang, sum(n) FROM stats_langs WHERE day >= ? AND day <= ? GROUP BY lang HAVING sum(n) > 0
                """,
            arguments: period
        ) {
            reading.languages[row[0]] = row[1]
        }
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT substr(day, 1, 7), sum(fines), sum(paid_online), sum(paid_bank), sum(paid_cash), sum(part_paid), sum(outstanding),
                       sum(handed_over)
                FROM stats_money WHERE day >= ? AND day <= ? GROUP BY 1
                """,
            arguments: period
        ) {
            reading.money[row[0]] = StatisticsMoney(
                fines: row[1],
                paidOnline: row[2],
                paidBankTransfer: row[3],
                paidCash: row[4],
                partPaid: row[5],
                outstanding: row[6],
                handedOver: row[7]
            )
        }
        return reading
    }
}

/// The counters of one or more cells.
public struct StatisticsCounts: Sendable, Equatable {
    public var issued = 0
    public var scanned = 0
    public var handoff = 0
    public var paid = 0
    public var paidPayPal = 0
    public var paidBankTransfer = 0
    public var paidCash = 0
    public var paidOnTime = 0
    public var reminded = 0

    public init(
        issued: Int = 0,
        scanned: Int = 0,
        handoff: Int = 0,
        paid: Int = 0,
        paidPayPal: Int = 0,
        paidBankTransfer: Int = 0,
        paidCash: Int = 0,
        paidOnTime: Int = 0,
        reminded: Int = 0
    ) {
        self.issued = issued
        self.scanned = scanned
        self.handoff = handoff
        self.paid = paid
        self.paidPayPal = paidPayPal
        self.paidBankTransfer = paidBankTransfer
        self.paidCash = paidCash
        self.paidOnTime = paidOnTime
        self.reminded = reminded
    }
}

/// Money of the cases issued in a period, in cents (the `stats_money` table above).
public struct StatisticsMoney: Sendable, Equatable {
    /// The fines of the tickets not cancelled.
    public var fines = 0
    /// The fines of the cases paid online (PayPal, the e-payment platform), by bank transfer, in cash.
    public var paidOnline = 0
    public var paidBankTransfer = 0
    public var paidCash = 0
    /// Parts received on cases not yet paid in full.
    public var partPaid = 0
    /// What open, overdue and reminded cases still owe.
    public var outstanding = 0
    /// What the cases handed over to the Bußgeld procedure still owed.
    public var handedOver = 0

    /// Everything received: the paid fines and the parts.
    public var collected: Int { paidOnline + paidBankTransfer + paidCash + partPaid }

    public init(
        fines: Int = 0,
        paidOnline: Int = 0,
        paidBankTransfer: Int = 0,
        paidCash: Int = 0,
        partPaid: Int = 0,
        outstanding: Int = 0,
        handedOver: Int = 0
    ) {
        self.fines = fines
        self.paidOnline = paidOnline
        self.paidBankTransfer = paidBankTransfer
        self.paidCash = paidCash
        self.partPaid = partPaid
        self.outstanding = outstanding
        self.handedOver = handedOver
    }

    public mutating func add(_ other: StatisticsMoney) {
        fines += other.fines
        paidOnline += other.paidOnline
        paidBankTransfer += other.paidBankTransfer
        paidCash += other.paidCash
        partPaid += other.partPaid
        outstanding += other.outstanding
        handedOver += other.handedOver
    }
}

/// The sums of the cells of one month (`yyyy-mm`), QR flag and maturity.
public struct StatisticsMonth: Sendable, Equatable {
    public var month: String
    public var qrPrinted: Bool
    /// The deadline plus grace days has passed: the reminder could have been sent.
    public var mature: Bool
    public var counts: StatisticsCounts
}

/// What the statistics of a period are computed from.
public struct StatisticsReading: Sendable {
    public struct HourCount: Sendable, Equatable {
        /// UTC hours since 1970.
        public var hour: Int64
        public var count: Int
    }

    public struct PayTimeBucket: Sendable, Equatable {
        public var channel: String
        /// Quarter days from issue to payment.
        public var bucket: Int
        public var count: Int
    }

    /// The period: `from` as asked, or the first day with data.
    public var from: CivilDate
    public var to: CivilDate
    /// The first and the last Berlin day with a case or an unmatched transfer (nil: no data at all).
    public var firstDataDay: CivilDate?
    public var lastDataDay: CivilDate?
    public var months: [StatisticsMonth] = []
    public var unmatchedByHour: [HourCount] = []
    public var payTimes: [PayTimeBucket] = []
    public var languages: [String: Int] = [:]
    /// Money per month (`yyyy-mm`) of issue.
    public var money: [String: StatisticsMoney] = [:]

    init(from: CivilDate, to: CivilDate) {
        self.from = from
        self.to = to
    }
}

/// The non-zero content of the cells, comparable.
public struct StatisticsSnapshot: Sendable, Equatable {
    public struct CellKey: Hashable, Sendable, Comparable {
        public var day: String
        public var qrPrinted: Bool
        public var deadline: String

        public init(day: String, qrPrinted: Bool, deadline: String) {
            self.day = day
            self.qrPrinted = qrPrinted
            self.deadline = deadline
        }

        public static func < (a: CellKey, b: CellKey) -> Bool {
            (a.day, a.qrPrinted ? 1 : 0, a.deadline) < (b.day, b.qrPrinted ? 1 : 0, b.deadline)
        }
    }

    public struct PayTimeKey: Hashable, Sendable {
        public var day: String
        public var channel: String
        public var bucket: Int

        public init(day: String, channel: String, bucket: Int) {
            self.day = day
            self.channel = channel
            self.bucket = bucket
        }
    }

    public struct LanguageKey: Hashable, Sendable {
        public var day: String
        public var language: String

        public init(day: String, language: String) {
            self.day = day
            self.language = language
        }
    }

    /// Per cell: issued, scanned, handoff, paid, paid_paypal, paid_bank, paid_cash, paid_on_time, reminded.
    public var cells: [CellKey: [Int]] = [:]
    public var payTimes: [PayTimeKey: Int] = [:]
    public var languages: [LanguageKey: Int] = [:]
    /// Cases per status.
    public var statuses: [String: Int] = [:]
    /// Per issue day, in cents: fines, paid online, by bank transfer, in cash, parts received, outstanding, handed over.
    public var money: [String: [Int]] = [:]

    public init() {}

    /// How many cells, buckets and language counts differ between the two.
    public func differences(from other: StatisticsSnapshot) -> Int {
        func count<K: Hashable, V: Equatable>(_ a: [K: V], _ b: [K: V]) -> Int {
            Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.count
        }
        return count(cells, other.cells) + count(payTimes, other.payTimes) + count(languages, other.languages)
            + count(statuses, other.statuses) + count(money, other.money)
    }
}

/// What `lotse stats --rebuild` did.
public struct StatisticsRebuild: Sendable, Equatable {
    /// Cases folded from scratch.
    public var cases: Int
    public var cells: Int
    public var payTimeBuckets: Int
    public var languageCounts: Int
    /// Cells, buckets and language counts that were wrong before (and are right now).
    public var repaired: Int
}

extension Store {
    /// The statistics of a period: new cases are folded into the cells first (a short write, only when there are
    /// new cases), then the cells are read in one read transaction. For the CLI.
    public func statistics(from: CivilDate?, to: CivilDate, matureBefore: CivilDate) throws -> StatisticsReading {
        if try pool.read({ try StatisticsCells.needsFold($0) }) {
            _ = try pool.write { try StatisticsCells.fold($0) }
        }
        return try pool.read { try StatisticsCells.read($0, from: from, to: to, matureBefore: matureBefore) }
    }

    /// The same for the server: SQLite runs on GRDB's own threads, never on the caller's (an event loop).
    public func statistics(from: CivilDate?, to: CivilDate, matureBefore: CivilDate) async throws -> StatisticsReading {
        if try await pool.read({ try StatisticsCells.needsFold($0) }) {
            _ = try await pool.write { try StatisticsCells.fold($0) }
        }
        return try await pool.read { try StatisticsCells.read($0, from: from, to: to, matureBefore: matureBefore) }
    }

    /// Recomputes every cell from scratch in one write transaction (`lotse stats --rebuild`).
    public func rebuildStatistics() throws -> StatisticsRebuild {
        try pool.write { try StatisticsCells.rebuild($0) }
    }

    /// The cells as they are now (new cases folded first).
    public func statisticsSnapshot() throws -> StatisticsSnapshot {
        try pool.write { db in
            try StatisticsCells.fold(db)
            return try StatisticsCells.snapshot(db)
        }
    }
}

extension Store {
    /// Cases per status, for the `/metrics` gauges: the folded counts (`stats_status`, a handful of rows) plus the
    /// cases not folded yet (a range of the newest ids, read by rowid). No scan of every case.
    public func caseCountsByStatus() async throws -> [CaseStatus: Int] {
        try await pool.read { db in
            var counts: [CaseStatus: Int] = [:]
            let last = try Int64.fetchOne(db, sql: "SELECT last_case_id FROM stats_state WHERE id = 1") ?? 0
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT status, n FROM stats_status
                    UNION ALL
                    SELECT status, count(*) FROM cases WHERE id > ? GROUP BY status
                    """,
                arguments: [last]
            ) {
                let status: CaseStatus = try Vocabulary.decode(row[0] as String, column: "cases.status")
                counts[status, default: 0] += row[1] as Int
            }
            return counts
        }
    }
}
