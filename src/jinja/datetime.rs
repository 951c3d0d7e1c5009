//! `modules.datetime` as Python's: `datetime` and `date` values (constructed, parsed, `now()`),
//! `timedelta`, comparisons between them, and `+` / `-` (through [`add`] and [`sub`], which the
//! template rewrite in `arith` calls for the binary operators of templates that use dates).

use minijinja::value::{Enumerator, Kwargs, Object, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};
use std::cmp::Ordering;
use std::sync::Arc;

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// A Python datetime (or a date, when `date_only`): renders like `str()`, with `strftime`,
/// `isoformat`, fields, comparisons and timedelta arithmetic.
#[derive(Debug, Clone)]
pub struct DateTimeObj {
    /// The value (midnight for a date).
    pub at: chrono::NaiveDateTime,
    /// A `datetime.date` rather than a `datetime.datetime`.
    pub date_only: bool,
}

/// A Python timedelta.
#[derive(Debug, Clone)]
pub struct TimedeltaObj(pub chrono::TimeDelta);

/// A datetime value.
pub fn datetime_value(dt: chrono::NaiveDateTime) -> Value {
    Value::from_object(DateTimeObj { at: dt, date_only: false })
}

fn date_value(d: chrono::NaiveDate) -> Value {
    Value::from_object(DateTimeObj { at: d.and_hms_opt(0, 0, 0).unwrap_or_default(), date_only: true })
}

impl Object for DateTimeObj {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        use chrono::{Datelike, Timelike};
        let d = &self.at;
        Some(Value::from(match key.as_str()? {
            "year" => d.year() as i64,
            "month" => d.month() as i64,
            "day" => d.day() as i64,
            "hour" if !self.date_only => d.hour() as i64,
            "minute" if !self.date_only => d.minute() as i64,
            "second" if !self.date_only => d.second() as i64,
            "microsecond" if !self.date_only => (d.nanosecond() / 1000) as i64,
            _ => return None,
        }))
    }
    fn call_method(self: &Arc<Self>, _s: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        use chrono::Datelike;
        match method {
            "strftime" => {
                let fmt = args.first().and_then(Value::as_str).unwrap_or("%Y-%m-%d %H:%M:%S");
                let mut out = String::new();
                use std::fmt::Write;
                write!(out, "{}", self.at.format(fmt)).map_err(|_| invalid(format!("bad strftime format '{fmt}'")))?;
                Ok(Value::from(out))
            }
            "isoformat" if self.date_only => Ok(Value::from(self.at.format("%Y-%m-%d").to_string())),
            "isoformat" => {
                let sep = args.first().and_then(Value::as_str).unwrap_or("T");
                Ok(Value::from(format!("{}{sep}{}", self.at.format("%Y-%m-%d"), time_text(&self.at))))
            }
            "date" => Ok(date_value(self.at.date())),
            "weekday" => Ok(Value::from(self.at.weekday().num_days_from_monday() as i64)),
            "isoweekday" => Ok(Value::from(self.at.weekday().number_from_monday() as i64)),
            "timestamp" => Ok(Value::from(self.at.and_utc().timestamp_micros() as f64 / 1e6)),
            "astimezone" | "replace" if args.is_empty() => Ok(Value::from_object((**self).clone())),
            "replace" => {
                let kw: Kwargs = Kwargs::try_from(args.last().cloned().unwrap_or_default())?;
                let get = |k: &str, cur: u32| -> Result<u32, Error> { Ok(kw.get::<Option<u32>>(k)?.unwrap_or(cur)) };
                use chrono::Timelike;
                let a = &self.at;
                let date = chrono::NaiveDate::from_ymd_opt(
                    kw.get::<Option<i32>>("year")?.unwrap_or(a.year()),
                    get("month", a.month())?,
                    get("day", a.day())?,
                );
                let time = chrono::NaiveTime::from_hms_micro_opt(
                    get("hour", a.hour())?,
                    get("minute", a.minute())?,
                    get("second", a.second())?,
                    get("microsecond", a.nanosecond() / 1000)?,
                );
                match (date, time) {
                    (Some(d), Some(t)) => {
                        Ok(Value::from_object(DateTimeObj { at: d.and_time(t), date_only: self.date_only }))
                    }
                    _ => Err(invalid("replace(): a value is out of range")),
                }
            }
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("datetime has no method `{method}`"))),
        }
    }
    fn custom_cmp(self: &Arc<Self>, other: &minijinja::value::DynObject) -> Option<Ordering> {
        other.downcast_ref::<DateTimeObj>().map(|o| self.at.cmp(&o.at))
    }
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.date_only {
            write!(f, "{}", self.at.format("%Y-%m-%d"))
        } else {
            write!(f, "{} {}", self.at.format("%Y-%m-%d"), time_text(&self.at))
        }
    }
}

/// Python's time part: `HH:MM:SS`, with `.ffffff` only when there are microseconds.
fn time_text(at: &chrono::NaiveDateTime) -> String {
    use chrono::Timelike;
    if at.nanosecond() / 1000 == 0 {
        at.format("%H:%M:%S").to_string()
    } else {
        at.format("%H:%M:%S%.6f").to_string()
    }
}

impl TimedeltaObj {
    fn parts(&self) -> (i64, i64, i64) {
        // Python normalises to days (may be negative), 0 <= seconds < 86400, 0 <= micros < 1e6.
        let micros = self.0.num_microseconds().unwrap_or(0);
        let day = 86_400_000_000i64;
        let days = micros.div_euclid(day);
        let rest = micros.rem_euclid(day);
        (days, rest / 1_000_000, rest % 1_000_000)
    }
}

impl Object for TimedeltaObj {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let (d, s, us) = self.parts();
        Some(Value::from(match key.as_str()? {
            "days" => d,
            "seconds" => s,
            "microseconds" => us,
            _ => return None,
        }))
    }
    fn call_method(self: &Arc<Self>, _s: &State<'_, '_>, method: &str, _args: &[Value]) -> Result<Value, Error> {
        match method {
            "total_seconds" => Ok(Value::from(self.0.num_microseconds().unwrap_or(0) as f64 / 1e6)),
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("timedelta has no method `{method}`"))),
        }
    }
    fn custom_cmp(self: &Arc<Self>, other: &minijinja::value::DynObject) -> Option<Ordering> {
        other.downcast_ref::<TimedeltaObj>().map(|o| self.0.cmp(&o.0))
    }
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (d, s, us) = self.parts();
        if d != 0 {
            write!(f, "{d} day{}, ", if d.abs() == 1 { "" } else { "s" })?;
        }
        write!(f, "{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)?;
        if us != 0 {
            write!(f, ".{us:06}")?;
        }
        Ok(())
    }
}

/// `modules.datetime`: the `datetime`, `date` and `timedelta` classes.
#[derive(Debug)]
pub struct DatetimeModule;
impl Object for DatetimeModule {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "datetime" => Some(Value::from_object(Class::DateTime)),
            "date" => Some(Value::from_object(Class::Date)),
            "timedelta" => Some(Value::from_object(Class::Timedelta)),
            _ => None,
        }
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["datetime", "date", "timedelta"])
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    DateTime,
    Date,
    Timedelta,
}

/// Positional and keyword arguments by Python's parameter names.
fn args_by_name(args: &[Value], names: &[&str]) -> Result<Vec<Option<Value>>, Error> {
    let (pos, kw) = match args.last() {
        Some(v) if v.kind() == ValueKind::Map && Kwargs::try_from(v.clone()).is_ok() => {
            (&args[..args.len() - 1], Some(Kwargs::try_from(v.clone())?))
        }
        _ => (args, None),
    };
    if pos.len() > names.len() {
        return Err(invalid(format!("takes at most {} arguments", names.len())));
    }
    let mut out = vec![None; names.len()];
    for (i, v) in pos.iter().enumerate() {
        out[i] = Some(v.clone());
    }
    if let Some(kw) = kw {
        for (i, n) in names.iter().enumerate() {
            if let Some(v) = kw.get::<Option<Value>>(n)? {
                out[i] = Some(v);
            }
        }
        kw.assert_all_used()?;
    }
    Ok(out)
}

fn num(v: &Option<Value>) -> Result<f64, Error> {
    match v {
        None => Ok(0.0),
        Some(v) => f64::try_from(v.clone()).map_err(|_| invalid(format!("expected a number, got {v}"))),
    }
}

fn int(v: &Option<Value>, default: i64) -> Result<i64, Error> {
    match v {
        None => Ok(default),
        Some(v) => i64::try_from(v.clone()).map_err(|_| invalid(format!("expected an integer, got {v}"))),
    }
}

impl Object for Class {
    fn call(self: &Arc<Self>, _s: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        match **self {
            Class::Timedelta => {
                let a = args_by_name(
                    args,
                    &["days", "seconds", "microseconds", "milliseconds", "minutes", "hours", "weeks"],
                )?;
                let micros = num(&a[0])? * 86_400e6
                    + num(&a[1])? * 1e6
                    + num(&a[2])?
                    + num(&a[3])? * 1e3
                    + num(&a[4])? * 60e6
                    + num(&a[5])? * 3600e6
                    + num(&a[6])? * 604_800e6;
                Ok(Value::from_object(TimedeltaObj(chrono::TimeDelta::microseconds(micros.round() as i64))))
            }
            class => {
                let names: &[&str] = if class == Class::Date {
                    &["year", "month", "day"]
                } else {
                    &["year", "month", "day", "hour", "minute", "second", "microsecond"]
                };
                let a = args_by_name(args, names)?;
                let field = |i: usize, d: i64| -> Result<u32, Error> {
                    u32::try_from(int(a.get(i).unwrap_or(&None), d)?).map_err(|_| invalid("a field is out of range"))
                };
                let date = chrono::NaiveDate::from_ymd_opt(int(&a[0], 1)? as i32, field(1, 1)?, field(2, 1)?)
                    .ok_or_else(|| invalid("day is out of range for month"))?;
                let time =
                    chrono::NaiveTime::from_hms_micro_opt(field(3, 0)?, field(4, 0)?, field(5, 0)?, field(6, 0)?)
                        .ok_or_else(|| invalid("a time field is out of range"))?;
                Ok(Value::from_object(DateTimeObj { at: date.and_time(time), date_only: class == Class::Date }))
            }
        }
    }
    fn call_method(self: &Arc<Self>, _s: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let wrap = |dt: chrono::NaiveDateTime| match **self {
            Class::Date => date_value(dt.date()),
            _ => datetime_value(dt),
        };
        match method {
            "now" | "today" => Ok(wrap(chrono::Local::now().naive_local())),
            "utcnow" => Ok(wrap(chrono::Utc::now().naive_utc())),
            "strptime" => {
                let s = args.first().and_then(Value::as_str).unwrap_or_default();
                let fmt = args.get(1).and_then(Value::as_str).unwrap_or_default();
                chrono::NaiveDateTime::parse_from_str(s, fmt)
                    .or_else(|_| {
                        chrono::NaiveDate::parse_from_str(s, fmt).map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                    })
                    .map(datetime_value)
                    .map_err(|e| invalid(format!("strptime('{s}', '{fmt}'): {e}")))
            }
            "fromisoformat" => {
                let s = args.first().and_then(Value::as_str).unwrap_or_default();
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                    .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
                    .or_else(|_| {
                        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                            .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                    })
                    .map(wrap)
                    .map_err(|e| invalid(format!("fromisoformat('{s}'): {e}")))
            }
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("datetime has no method `{method}`"))),
        }
    }
}

fn as_dt(v: &Value) -> Option<Arc<DateTimeObj>> {
    v.downcast_object::<DateTimeObj>()
}

fn as_td(v: &Value) -> Option<Arc<TimedeltaObj>> {
    v.downcast_object::<TimedeltaObj>()
}

fn shifted(d: &DateTimeObj, by: chrono::TimeDelta) -> Value {
    let at = d.at + by;
    Value::from_object(DateTimeObj { at, date_only: d.date_only })
}

/// `a + b`: datetime + timedelta, timedelta + timedelta, else what minijinja's `+` does.
pub fn add(a: Value, b: Value) -> Result<Value, Error> {
    match (as_dt(&a), as_td(&a), as_dt(&b), as_td(&b)) {
        (Some(d), _, _, Some(t)) | (_, Some(t), Some(d), _) => Ok(shifted(&d, t.0)),
        (_, Some(x), _, Some(y)) => Ok(Value::from_object(TimedeltaObj(x.0 + y.0))),
        _ => plain(a, b, true),
    }
}

/// `a - b`: datetime - timedelta, datetime - datetime, timedelta - timedelta, else minijinja's.
pub fn sub(a: Value, b: Value) -> Result<Value, Error> {
    match (as_dt(&a), as_td(&a), as_dt(&b), as_td(&b)) {
        (Some(d), _, _, Some(t)) => Ok(shifted(&d, -t.0)),
        (Some(x), _, Some(y), _) => Ok(Value::from_object(TimedeltaObj(x.at - y.at))),
        (_, Some(x), _, Some(y)) => Ok(Value::from_object(TimedeltaObj(x.0 - y.0))),
        _ => plain(a, b, false),
    }
}

/// `+` / `-` on everything else, as minijinja does it: numbers, and (for `+`) strings and lists.
fn plain(a: Value, b: Value, add: bool) -> Result<Value, Error> {
    let op = if add { "+" } else { "-" };
    let unsupported = || invalid(format!("unsupported operand types for {op}: {} and {}", a.kind(), b.kind()));
    match (a.kind(), b.kind()) {
        (ValueKind::Number, ValueKind::Number) => {
            if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
                let r = if add { x.checked_add(y) } else { x.checked_sub(y) };
                return r.map(Value::from).ok_or_else(|| invalid("integer overflow"));
            }
            let (x, y) = (f64::try_from(a.clone())?, f64::try_from(b.clone())?);
            Ok(Value::from(if add { x + y } else { x - y }))
        }
        (ValueKind::String, ValueKind::String) if add => {
            Ok(Value::from(format!("{}{}", a.as_str().unwrap_or_default(), b.as_str().unwrap_or_default())))
        }
        (ValueKind::Seq, ValueKind::Seq) if add => {
            let mut items: Vec<Value> = a.try_iter()?.collect();
            items.extend(b.try_iter()?);
            Ok(crate::jinja::mutable::MutList::value(items))
        }
        _ => Err(unsupported()),
    }
}
