//! A spec printed back as spec text: what a run measured after every
//! override, in the language it was written in (headers, JSON, sweeps).
//! Keys left at their defaults are not printed.

use super::{Data, DataSource, Dense, Generator, Optim, OptimKind, Schedule, Spec, Train};
use std::fmt::{self, Display, Formatter};

/// ` key=value` when `value` is set.
fn key<T: Display>(f: &mut Formatter<'_>, name: &str, value: Option<T>) -> fmt::Result {
    match value {
        Some(v) => write!(f, " {name}={v}"),
        None => Ok(()),
    }
}

/// A word as the spec reads it back: in double quotes when it holds a
/// space or one of `;#=(),` (a path such as `runs/a b.csv`). A `"` cannot
/// be written at all (the syntax has no escape).
struct Word<'a>(&'a str);

impl Display for Word<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let plain = !self.0.is_empty()
            && !self
                .0
                .chars()
                .any(|c| c.is_whitespace() || ";#=(),".contains(c));
        if plain {
            f.write_str(self.0)
        } else {
            write!(f, "\"{}\"", self.0)
        }
    }
}

impl Display for Spec {
    /// The spec as `;`-separated lines (`input 64; dense 64 tanh x10; ...`),
    /// the form `--net` takes.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut lines: Vec<String> = Vec::new();
        if let Some(input) = self.input {
            lines.push(format!("input {}", input.size));
        }
        lines.extend(self.dense.iter().map(Dense::to_string));
        if let Some((loss, _)) = self.loss {
            let mut line = format!("loss {}", loss.name());
            if self.l2.rho != 0.0 {
                line += &format!(" l2={}", self.l2.rho);
            }
            if self.l2.bias {
                line += " l2_bias=true";
            }
            lines.push(line);
        }
        if let Some(o) = &self.optim {
            lines.push(format!("optim {o}"));
        }
        if let Some(d) = &self.data {
            lines.push(format!("data {d}"));
        }
        lines.push(format!("train {}", self.train));
        f.write_str(&lines.join("; "))
    }
}

impl Display for Dense {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "dense {}", self.units)?;
        if let Some((act, _)) = self.act {
            write!(f, " {act}")?;
        }
        key(f, "init", self.init.map(|(i, _)| i))?;
        key(f, "bias", self.bias.map(|(b, _)| b))?;
        key(f, "weight_decay", self.weight_decay)?;
        key(f, "act_decay", self.act_decay)?;
        if self.repeat > 1 {
            write!(f, " x{}", self.repeat)?;
        }
        Ok(())
    }
}

impl Display for Optim {
    /// `adam lr=0.001` and every key that differs from PyTorch's default.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let d = Optim::torch_defaults(self.kind, self.span);
        let differs = |a: f64, b: f64| (a != b).then_some(a);
        write!(f, "{} lr={}", self.kind.name(), self.lr)?;
        if self.kind == OptimKind::Sgd {
            key(f, "momentum", differs(self.momentum, d.momentum))?;
            key(f, "dampening", differs(self.dampening, d.dampening))?;
            key(f, "nesterov", self.nesterov.then_some(true))?;
        } else {
            key(f, "beta1", differs(self.beta1, d.beta1))?;
            key(f, "beta2", differs(self.beta2, d.beta2))?;
            key(f, "eps", differs(self.eps, d.eps))?;
            key(f, "amsgrad", self.amsgrad.then_some(true))?;
        }
        key(
            f,
            "weight_decay",
            differs(self.weight_decay, d.weight_decay),
        )?;
        key(f, "maximize", self.maximize.then_some(true))?;
        key(f, "decay_bias", (!self.decay_bias).then_some(false))?;
        match self.schedule {
            Schedule::Constant => Ok(()),
            Schedule::Step { step_size, gamma } => {
                write!(f, " schedule=step step_size={step_size} gamma={gamma}")
            }
            Schedule::Cosine { min_lr } => write!(f, " schedule=cosine min_lr={min_lr}"),
        }
    }
}

impl Display for Data {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match &self.source {
            DataSource::Generated(g) => {
                key(f, "n", g.n.map(|(n, _)| n))?;
                key(f, "test", g.test.map(|(n, _)| n))?;
                key(f, "seed", g.seed)?;
                match g.generator {
                    Generator::Blobs { std } => key(f, "std", std)?,
                    Generator::Spirals { noise } => key(f, "noise", noise)?,
                    Generator::Poly {
                        noise,
                        degree,
                        grid,
                    } => {
                        key(f, "noise", noise)?;
                        key(f, "degree", degree)?;
                        key(f, "grid", grid.then_some(true))?;
                    }
                    _ => {}
                }
            }
            DataSource::Csv { files, label } => {
                write!(f, " path={}", Word(&files.path.0))?;
                key(f, "label", label.as_ref().map(|(l, _)| Word(l)))?;
                key(f, "test", files.test.as_ref().map(|(t, _)| Word(t)))?;
                key(f, "split", files.split.map(|(s, _)| s))?;
            }
            DataSource::Mnist {
                files,
                labels,
                test_labels,
            } => {
                write!(f, " path={}", Word(&files.path.0))?;
                key(f, "labels", labels.as_ref().map(|(l, _)| Word(l)))?;
                key(f, "test", files.test.as_ref().map(|(t, _)| Word(t)))?;
                key(f, "test_labels", test_labels.as_ref().map(|(t, _)| Word(t)))?;
                key(f, "split", files.split.map(|(s, _)| s))?;
            }
        }
        key(f, "normalize", self.normalize.then_some(true))
    }
}

impl Display for Train {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "epochs={} batch={} seed={}",
            self.epochs, self.batch, self.seed
        )?;
        key(f, "steps", self.steps)?;
        key(f, "flush_subnormals", self.flush_subnormals.then_some(true))
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::{Source, parse};

    #[test]
    fn a_printed_spec_parses_back_to_the_same_spec() {
        for text in [
            "input 64; dense 64 tanh init=glorot_uniform(gain=auto) x10; dense 10; loss mse",
            "input 2; dense 8 leaky_relu(a=0.1) bias=const(0.5) weight_decay=0.01; dense 3; \
             optim sgd lr=0.1 momentum=0.9 nesterov=true decay_bias=false schedule=step step_size=3 gamma=0.5; \
             data spirals n=200 test=50 noise=0.1 normalize=true; train epochs=3 batch=8 seed=4 steps=7 flush_subnormals=true",
            "input 784; dense 10; optim adamw lr=0.01 amsgrad=true schedule=cosine min_lr=0.001; \
             data mnist path=a-images-idx3-ubyte test=t-images-idx3-ubyte test_labels=t.idx1",
            "input 3; dense 1; loss mse l2=0.5 l2_bias=true; data poly degree=3 n=10 test=100 grid=true; train epochs=2 batch=10 seed=0",
            // Paths with a space, `;` or `#` print in quotes.
            "input 2; dense 2; data csv path=\"runs/a b;c#1.csv\" label=\"the y\" test=\"t#2.csv\"; train epochs=1 batch=1 seed=0",
        ] {
            let spec = parse(Source::new("--net", text)).unwrap();
            let printed = spec.to_string();
            let again = parse(Source::new("--net", printed.as_str())).unwrap();
            assert_eq!(again.to_string(), printed, "{text}");
            assert_eq!(
                format!("{:?}", again.optim.map(|o| (o.kind, o.lr, o.schedule))),
                format!(
                    "{:?}",
                    spec.optim.clone().map(|o| (o.kind, o.lr, o.schedule))
                )
            );
            assert_eq!(again.dense.len(), spec.dense.len());
            assert_eq!(
                again.data.as_ref().map(|d| d.name()),
                spec.data.as_ref().map(|d| d.name())
            );
        }
    }
}
