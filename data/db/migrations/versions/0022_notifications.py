"""alert rules, notifications and webhook deliveries (issue 16 item 4)

``alert_rule``: rules as data (data/ops/alert_rules.py manages them): a trigger (data/vocab.py ALERT_TRIGGERS),
conditions (categories, a minimum severity, communes; for overdue patrol points the hours overdue), recipients
(data/vocab.py ALERT_RECIPIENTS and named users) and an optional webhook (URL and shared secret).

``notification``: one row per recipient, written in the transaction of the write that caused it: for incidents
by the trigger ``incident_notify`` below (a new incident, or a change of severity/category that makes a rule
match that did not match before; never generated demo incidents nor imported past cases); for overdue patrol
points by the sweep of data/ops/notifications.py, once per (rule, point, overdue spell) thanks to
``alert_spell``. Each notification is also an ``event`` (kind ``notification``) that only its recipient's live
streams receive. ``webhook_delivery`` is the outbox the workers' delivery tasks drain (data/ops/webhooks.py).

Revision ID: 0022_notifications
Revises: 0021_patrol_schedules
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0022_notifications'
down_revision: Union[str, Sequence[str], None] = '0021_patrol_schedules'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Frozen copies of the vocabularies at this revision (data/vocab.py; models.py builds the same CHECKs).
TRIGGERS = "'incident', 'patrol_overdue'"
RECIPIENTS = "'commune_chief', 'province_commander', 'admin'"
STATUSES = "'pending', 'delivered', 'failed'"
SEVERITIES = "administrative,less_serious,serious,very_serious,particularly_serious"
CATEGORIES = ("'drugs', 'theft', 'human_trafficking', 'illegal_border_crossing', 'weapons_explosives', "
              "'illegal_religion', 'high_tech_fraud', 'public_order', 'traffic', 'other'")


def upgrade() -> None:
    sev_list = ", ".join(f"'{s}'" for s in SEVERITIES.split(","))
    op.execute(f"""
        CREATE TABLE alert_rule (
          id serial CONSTRAINT pk_alert_rule PRIMARY KEY,
          name text NOT NULL CONSTRAINT uq_alert_rule_name UNIQUE,
          enabled boolean NOT NULL DEFAULT true,
          trigger varchar(32) NOT NULL CONSTRAINT ck_alert_rule_trigger_valid CHECK (trigger IN ({TRIGGERS})),
          categories varchar(32)[] CONSTRAINT ck_alert_rule_categories_valid
            CHECK (categories <@ ARRAY[{CATEGORIES}]::varchar(32)[]),
          min_severity varchar(32) CONSTRAINT ck_alert_rule_min_severity_valid CHECK (min_severity IN ({sev_list})),
          unit_ids integer[],
          overdue_hours integer CONSTRAINT ck_alert_rule_overdue_hours_positive CHECK (overdue_hours > 0),
          recipients varchar(32)[] NOT NULL DEFAULT '{{}}' CONSTRAINT ck_alert_rule_recipients_valid
            CHECK (recipients <@ ARRAY[{RECIPIENTS}]::varchar(32)[]),
          user_ids integer[] NOT NULL DEFAULT '{{}}',
          webhook_url text,
          webhook_secret text,
          version integer NOT NULL DEFAULT 1,
          created_by integer CONSTRAINT fk_alert_rule_created_by_app_user REFERENCES app_user (id),
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT ck_alert_rule_webhook_signed CHECK (webhook_url IS NULL OR webhook_secret IS NOT NULL)
        )""")
    op.execute("CREATE INDEX ix_alert_rule_created_by ON alert_rule (created_by)")
    op.execute("""
        CREATE TABLE notification (
          id bigserial CONSTRAINT pk_notification PRIMARY KEY,
          user_id integer NOT NULL
            CONSTRAINT fk_notification_user_id_app_user REFERENCES app_user (id) ON DELETE CASCADE,
          rule_id integer NOT NULL
            CONSTRAINT fk_notification_rule_id_alert_rule REFERENCES alert_rule (id) ON DELETE CASCADE,
          trigger varchar(32) NOT NULL,
          incident_id uuid CONSTRAINT fk_notification_incident_id_incident REFERENCES incident (id) ON DELETE CASCADE,
          patrol_point_id integer
            CONSTRAINT fk_notification_patrol_point_id_patrol_point REFERENCES patrol_point (id) ON DELETE CASCADE,
          unit_id integer CONSTRAINT fk_notification_unit_id_admin_unit REFERENCES admin_unit (id),
          subject jsonb NOT NULL DEFAULT '{}'::jsonb,
          created_at timestamptz NOT NULL DEFAULT now(),
          read_at timestamptz
        )""")
    for col in ("user_id", "rule_id", "incident_id", "patrol_point_id", "unit_id"):
        op.execute(f"CREATE INDEX ix_notification_{col} ON notification ({col})")
    op.execute("CREATE INDEX ix_notification_unread ON notification (user_id, id) WHERE read_at IS NULL")
    op.execute("""
        CREATE TABLE alert_spell (
          rule_id integer NOT NULL
            CONSTRAINT fk_alert_spell_rule_id_alert_rule REFERENCES alert_rule (id) ON DELETE CASCADE,
          patrol_point_id integer NOT NULL
            CONSTRAINT fk_alert_spell_patrol_point_id_patrol_point REFERENCES patrol_point (id) ON DELETE CASCADE,
          spell text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT pk_alert_spell PRIMARY KEY (rule_id, patrol_point_id, spell)
        )""")
    op.execute("CREATE INDEX ix_alert_spell_patrol_point_id ON alert_spell (patrol_point_id)")
    op.execute(f"""
        CREATE TABLE webhook_delivery (
          id bigserial CONSTRAINT pk_webhook_delivery PRIMARY KEY,
          rule_id integer NOT NULL
            CONSTRAINT fk_webhook_delivery_rule_id_alert_rule REFERENCES alert_rule (id) ON DELETE CASCADE,
          notification_ids bigint[] NOT NULL DEFAULT '{{}}',
          body jsonb NOT NULL,
          status varchar(16) NOT NULL DEFAULT 'pending'
            CONSTRAINT ck_webhook_delivery_status_valid CHECK (status IN ({STATUSES})),
          attempts integer NOT NULL DEFAULT 0,
          next_attempt_at timestamptz NOT NULL DEFAULT now(),
          delivered_at timestamptz,
          last_status integer,
          last_error text,
          created_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("CREATE INDEX ix_webhook_delivery_rule_id ON webhook_delivery (rule_id)")
    op.execute("CREATE INDEX ix_webhook_delivery_due ON webhook_delivery (next_attempt_at) WHERE status = 'pending'")

    # Who hears of a rule's subject in commune ``unit``: commune chiefs (commanders scoped to it), province
    # duty commanders (province-wide commanders), admins, named users; every one of them active and with the
    # commune in their scope (province-wide, or one of their communes; an officer without communes sees none).
    op.execute("""
CREATE FUNCTION sitmap_alert_recipients(recipients varchar[], user_ids integer[], unit integer)
RETURNS SETOF integer LANGUAGE sql STABLE AS $$
  SELECT u.id FROM app_user u
   WHERE NOT u.disabled
     AND (CASE WHEN EXISTS (SELECT FROM app_user_unit uu WHERE uu.user_id = u.id)
               THEN EXISTS (SELECT FROM app_user_unit uu WHERE uu.user_id = u.id AND uu.unit_id = unit)
               ELSE u.role <> 'officer' END)
     AND (('commune_chief' = ANY(recipients) AND u.role = 'commander'
           AND EXISTS (SELECT FROM app_user_unit uu WHERE uu.user_id = u.id))
       OR ('province_commander' = ANY(recipients) AND u.role = 'commander'
           AND NOT EXISTS (SELECT FROM app_user_unit uu WHERE uu.user_id = u.id))
       OR ('admin' = ANY(recipients) AND u.role = 'admin')
       OR u.id = ANY(user_ids))
$$""")
    op.execute(f"""
CREATE FUNCTION sitmap_alert_matches(r alert_rule, category text, severity text, unit integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT (r.categories IS NULL OR category = ANY(r.categories))
     AND (r.min_severity IS NULL OR array_position('{{{SEVERITIES}}}'::text[], severity)
                                    >= array_position('{{{SEVERITIES}}}'::text[], r.min_severity::text))
     AND (r.unit_ids IS NULL OR unit = ANY(r.unit_ids))
$$""")
    # One notification per recipient however many rules match (the first rule's id, every rule's name in the
    # subject); one webhook delivery per matching rule with a webhook; one live event per notification.
    op.execute("""
CREATE FUNCTION sitmap_incident_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.unit_id IS NULL THEN
    RETURN NULL;
  END IF;
  WITH m AS (
    SELECT r.* FROM alert_rule r
     WHERE r.enabled AND r.trigger = 'incident'
       AND sitmap_alert_matches(r, NEW.category, NEW.severity, NEW.unit_id)
       AND (TG_OP = 'INSERT' OR NOT sitmap_alert_matches(r, OLD.category, OLD.severity, OLD.unit_id))
  ), subject AS (
    SELECT jsonb_build_object(
             'incident_id', NEW.id, 'number', NEW.number, 'category', NEW.category, 'severity', NEW.severity,
             'status', NEW.status, 'occurred_at', NEW.occurred_at, 'lon', ST_X(NEW.geom), 'lat', ST_Y(NEW.geom),
             'unit_code', u.code, 'unit_name', u.name,
             'change', CASE WHEN TG_OP = 'INSERT' THEN 'created' ELSE 'updated' END,
             'rules', (SELECT jsonb_agg(m.name ORDER BY m.id) FROM m)) AS s
      FROM admin_unit u WHERE u.id = NEW.unit_id AND EXISTS (SELECT FROM m)
  ), rc AS (
    SELECT DISTINCT ON (x.uid) x.uid, m.id AS rule_id
      FROM m CROSS JOIN LATERAL sitmap_alert_recipients(m.recipients, m.user_ids, NEW.unit_id) AS x(uid)
     ORDER BY x.uid, m.id
  ), n AS (
    INSERT INTO notification (user_id, rule_id, trigger, incident_id, unit_id, subject)
    SELECT rc.uid, rc.rule_id, 'incident', NEW.id, NEW.unit_id, subject.s FROM rc CROSS JOIN subject
    RETURNING *
  ), ev AS (
    INSERT INTO event (kind, layer, unit_id, payload)
    SELECT 'notification', NULL, n.unit_id,
           jsonb_build_object('user_id', n.user_id, 'notification', jsonb_build_object(
             'id', n.id, 'trigger', n.trigger, 'created_at', n.created_at, 'read_at', NULL, 'subject', n.subject))
      FROM n
  )
  INSERT INTO webhook_delivery (rule_id, notification_ids, body)
  SELECT m.id, coalesce((SELECT array_agg(n.id ORDER BY n.id) FROM n), '{}'),
         jsonb_build_object('trigger', 'incident', 'rule', jsonb_build_object('id', m.id, 'name', m.name),
                            'subject', subject.s, 'created_at', now(),
                            'recipients', coalesce((SELECT jsonb_agg(u.username ORDER BY u.username)
                                                      FROM sitmap_alert_recipients(m.recipients, m.user_ids,
                                                                                   NEW.unit_id) AS x(uid)
                                                      JOIN app_user u ON u.id = x.uid), '[]'::jsonb))
    FROM m CROSS JOIN subject WHERE m.webhook_url IS NOT NULL;
  RETURN NULL;
END
$$""")
    # Generated demo incidents and imported past cases (source 'import') notify nobody.
    op.execute("""
CREATE TRIGGER incident_notify AFTER INSERT OR UPDATE OF category, severity ON incident
FOR EACH ROW WHEN (NOT NEW.is_generated AND NEW.source::text <> 'import')
EXECUTE FUNCTION sitmap_incident_notify()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER incident_notify ON incident")
    op.execute("DROP FUNCTION sitmap_incident_notify()")
    op.execute("DROP FUNCTION sitmap_alert_matches(alert_rule, text, text, integer)")
    op.execute("DROP FUNCTION sitmap_alert_recipients(varchar[], integer[], integer)")
    op.execute("DROP TABLE webhook_delivery")
    op.execute("DROP TABLE alert_spell")
    op.execute("DROP TABLE notification")
    op.execute("DROP TABLE alert_rule")
