//! Glorot & Bengio's Shapeset-3×2 (AISTATS 2010; generator `glorotxa/Shapeset`,
//! `polygongen.py`), rasterized here: 32×32 grey images holding one or two
//! of triangle, parallelogram and ellipse, in 9 classes.
//!
//! One image, drawn from one [`Rng`] in this order:
//!
//! 1. the class ~ U{0..8}: 0=T, 1=P, 2=E, 3=T+P, 4=P+E, 5=T+E, 6=T+T, 7=P+P,
//!    8=E+E (Glorot's `convertout` numbering); classes are balanced in
//!    expectation (the original drew counts and types, so it was not);
//! 2. whether the grey levels are swapped, a coin flip (`inv_chance=0.5`);
//! 3. the background level, uniform on the 256 levels k/255 of its range:
//!    [0, 0.45] (levels 0..=114), or [0.55, 1] (140..=255) when swapped;
//! 4. for a mixed pair, a coin flip that decides which kind is drawn first;
//! 5. the first shape (see [`Shape`] for its recipe); for a pair, then up to
//!    [`TRIES`] = 50 candidates for the second shape, the first one whose
//!    overlap with the first shape is at most [`OVERLAP_MAX`] = 50 % of the
//!    smaller shape's area (pixel counts) being kept; when all 50 fail, both
//!    shapes are drawn again. Measuring against the smaller shape is at
//!    least as strict as the paper's "50 % of its area" under either
//!    reading, and keeps both shapes at least half visible;
//! 6. each shape's grey level, in drawing order, uniform on the levels of
//!    the range opposite to the background: [0.55, 1] (or [0, 0.45]).
//!
//! Rendering: every pixel starts at the background level; each shape then
//! paints the pixels whose centre lies inside it (no anti-aliasing), the
//! second shape over the first. Pixel values lie in [0, 1] (Glorot's
//! `neg=False`), row-major, row 0 at the top.

use crate::init::Rng;
use std::f64::consts::{PI, TAU};

/// Image side in pixels.
pub const SIZE: usize = 32;
/// Pixels per image (the input size).
pub const PIXELS: usize = SIZE * SIZE;
/// Configuration classes.
pub const CLASSES: usize = 9;
/// Candidates for the second shape before both are drawn again
/// (`rejectionmax=50`).
pub const TRIES: usize = 50;
/// The largest allowed overlap, as a fraction of the smaller shape's area
/// (`overlap_max=0.5`).
pub const OVERLAP_MAX: f64 = 0.5;
/// Scale range per axis, × image size (`scale_min=0.2, scale_max=0.8`).
pub const SCALE: (f64, f64) = (0.2, 0.8);
/// Grey levels (of 255) of the dark range [0, 0.45].
pub const DARK: (u32, u32) = (0, 114);
/// Grey levels (of 255) of the light range [0.55, 1].
pub const LIGHT: (u32, u32) = (140, 255);

/// A shape category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Triangle,
    Parallelogram,
    /// A 20-gon, as in the original (`n_vert_list=[3,4,20]`).
    Ellipse,
}

impl Kind {
    /// Vertices of the regular polygon the shape is made from.
    pub fn vertices(self) -> usize {
        match self {
            Kind::Triangle => 3,
            Kind::Parallelogram => 4,
            Kind::Ellipse => 20,
        }
    }

    /// `T`, `P` or `E`.
    pub fn letter(self) -> char {
        match self {
            Kind::Triangle => 'T',
            Kind::Parallelogram => 'P',
            Kind::Ellipse => 'E',
        }
    }
}

use Kind::{Ellipse as E, Parallelogram as P, Triangle as T};

/// The shapes of each class, in class order.
pub const CLASS_SHAPES: [&[Kind]; CLASSES] = [
    &[T],
    &[P],
    &[E],
    &[T, P],
    &[P, E],
    &[T, E],
    &[T, T],
    &[P, P],
    &[E, E],
];

/// The class of a set of shapes, in any order (Glorot's `convertout`);
/// `None` for no shape or more than two.
///
/// ```
/// use depthlab::dataset::shapeset::{Kind, class_of};
/// assert_eq!(class_of(&[Kind::Ellipse, Kind::Triangle]), Some(5));
/// assert_eq!(class_of(&[]), None);
/// ```
pub fn class_of(kinds: &[Kind]) -> Option<usize> {
    let counts = |ks: &[Kind]| [T, P, E].map(|k| ks.iter().filter(|&&x| x == k).count());
    let key = counts(kinds);
    CLASS_SHAPES.iter().position(|c| counts(c) == key)
}

/// The pixels a shape covers: bit j of `rows[i]` is pixel (row i, column j).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Mask {
    pub rows: [u32; SIZE],
}

impl Mask {
    /// Covered pixels.
    pub fn area(&self) -> u32 {
        self.rows.iter().map(|r| r.count_ones()).sum()
    }

    /// Pixels covered by both.
    pub fn overlap(&self, other: &Mask) -> u32 {
        self.rows
            .iter()
            .zip(&other.rows)
            .map(|(a, b)| (a & b).count_ones())
            .sum()
    }

    /// Pixels covered by `self` and not by `other`.
    pub fn minus(&self, other: &Mask) -> Mask {
        let mut m = *self;
        for (a, b) in m.rows.iter_mut().zip(&other.rows) {
            *a &= !b;
        }
        m
    }

    /// Whether pixel (row `i`, column `j`) is covered.
    pub fn contains(&self, i: usize, j: usize) -> bool {
        self.rows[i] >> j & 1 == 1
    }
}

/// One shape of an image.
///
/// Recipe (after `polygongen.py` with `poly_type=2`): the regular polygon
/// with [`Kind::vertices`] vertices on the circle of radius 0.5, a
/// horizontal bottom edge (vertex t at angle 2π(t/n + 1/2n + 1/4)); rotated
/// by α ~ U[−π/n, π/n), so that the next step gives a random triangle or
/// parallelogram rather than an isosceles one; scaled by (s_x, s_y), each
/// ~ U[0.2, 0.8]·32 then sorted so s_x ≥ s_y (aspect ratios vary); rotated
/// by θ ~ U[0, 2π) (a full turn); translated by t, each axis
/// ~ U[1 − min, 31 − max] of the vertices on that axis, so the shape stays
/// inside the image with a 1-pixel margin. Draws in that order: α, s_x,
/// s_y, θ, t_x, t_y.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    pub kind: Kind,
    /// (x, y) in pixels, x to the right and y down, pixel (i, j) centred at
    /// (j + 0.5, i + 0.5).
    pub vertices: Vec<[f64; 2]>,
    pub mask: Mask,
    /// Grey level in [0, 1].
    pub grey: f32,
}

/// One image before rendering: its class, background and shapes in
/// drawing order.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    pub class: usize,
    pub background: f32,
    pub shapes: Vec<Shape>,
}

impl Scene {
    /// Draws one image's scene (recipe in the module docs).
    pub fn draw(rng: &mut Rng) -> Scene {
        let class = rng.below(CLASSES as u64) as usize;
        Scene::draw_class(rng, class)
    }

    /// Draws a scene of the given class (steps 2–6 of the recipe).
    pub fn draw_class(rng: &mut Rng, class: usize) -> Scene {
        let swapped = rng.below(2) == 1;
        let (bg_range, fg_range) = if swapped {
            (LIGHT, DARK)
        } else {
            (DARK, LIGHT)
        };
        let background = level(rng, bg_range);
        let mut kinds = CLASS_SHAPES[class % CLASSES].to_vec();
        if kinds.len() == 2 && kinds[0] != kinds[1] && rng.below(2) == 1 {
            kinds.swap(0, 1);
        }
        let mut shapes = place(rng, &kinds);
        for s in &mut shapes {
            s.grey = level(rng, fg_range);
        }
        Scene {
            class,
            background,
            shapes,
        }
    }

    /// Writes the image, (32, 32) row-major, into `out` (overwrites).
    pub fn render(&self, out: &mut [f32]) {
        debug_assert_eq!(out.len(), PIXELS);
        out.fill(self.background);
        for s in &self.shapes {
            for (i, row) in out.chunks_exact_mut(SIZE).enumerate() {
                let bits = s.mask.rows[i];
                if bits == 0 {
                    continue;
                }
                for (j, v) in row.iter_mut().enumerate() {
                    if bits >> j & 1 == 1 {
                        *v = s.grey;
                    }
                }
            }
        }
    }

    /// The pixels of shape `k` left visible by the shapes drawn after it.
    pub fn visible(&self, k: usize) -> Mask {
        self.shapes[k + 1..]
            .iter()
            .fold(self.shapes[k].mask, |m, s| m.minus(&s.mask))
    }
}

/// A grey level k/255 with k uniform in `range` (inclusive).
fn level(rng: &mut Rng, (lo, hi): (u32, u32)) -> f32 {
    (lo + rng.below(u64::from(hi - lo + 1)) as u32) as f32 / 255.0
}

/// Places the shapes of one image, redrawing until a pair overlaps little
/// enough (step 5). Greys are set by the caller.
fn place(rng: &mut Rng, kinds: &[Kind]) -> Vec<Shape> {
    loop {
        let first = shape(rng, kinds[0]);
        let Some(&second_kind) = kinds.get(1) else {
            return vec![first];
        };
        for _ in 0..TRIES {
            let second = shape(rng, second_kind);
            let overlap = f64::from(first.mask.overlap(&second.mask));
            let smaller = f64::from(first.mask.area().min(second.mask.area()));
            if overlap <= OVERLAP_MAX * smaller {
                return vec![first, second];
            }
        }
    }
}

/// One shape of `kind` (recipe on [`Shape`]); drawn again in the
/// (practically impossible) case that it covers no pixel centre.
fn shape(rng: &mut Rng, kind: Kind) -> Shape {
    let n = kind.vertices();
    let size = SIZE as f64;
    loop {
        let alpha = rng.symmetric(PI / n as f64);
        let mut sx = (SCALE.0 + (SCALE.1 - SCALE.0) * rng.uniform()) * size;
        let mut sy = (SCALE.0 + (SCALE.1 - SCALE.0) * rng.uniform()) * size;
        if sy > sx {
            std::mem::swap(&mut sx, &mut sy);
        }
        let theta = TAU * rng.uniform();
        let (ca, sa) = (alpha.cos(), alpha.sin());
        let (ct, st) = (theta.cos(), theta.sin());
        let mut vertices: Vec<[f64; 2]> = (0..n)
            .map(|t| {
                let phi = TAU * (t as f64 / n as f64 + 0.5 / n as f64 + 0.25);
                let (x, y) = (0.5 * phi.cos(), 0.5 * phi.sin());
                let (x, y) = (x * ca - y * sa, x * sa + y * ca);
                let (x, y) = (x * sx, y * sy);
                [x * ct - y * st, x * st + y * ct]
            })
            .collect();
        for axis in 0..2 {
            let lo = vertices
                .iter()
                .map(|v| v[axis])
                .fold(f64::INFINITY, f64::min);
            let hi = vertices
                .iter()
                .map(|v| v[axis])
                .fold(f64::NEG_INFINITY, f64::max);
            // The widest shape spans 0.8·32 < 30 pixels, so the range is
            // never empty.
            let (from, to) = (1.0 - lo, size - 1.0 - hi);
            let t = from + (to - from).max(0.0) * rng.uniform();
            for v in &mut vertices {
                v[axis] += t;
            }
        }
        let mask = rasterize(&vertices);
        if mask.area() > 0 {
            return Shape {
                kind,
                vertices,
                mask,
                grey: 0.0,
            };
        }
    }
}

/// The pixels whose centre lies inside a convex polygon: per row, the span
/// between the two edge crossings of the line y = i + 0.5 (edges are
/// half-open in y, so each crossing counts once).
fn rasterize(vertices: &[[f64; 2]]) -> Mask {
    let mut mask = Mask::default();
    for (i, row) in mask.rows.iter_mut().enumerate() {
        let yc = i as f64 + 0.5;
        let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
        for (k, p) in vertices.iter().enumerate() {
            let q = vertices[(k + 1) % vertices.len()];
            if (p[1] <= yc) != (q[1] <= yc) {
                let x = p[0] + (yc - p[1]) * (q[0] - p[0]) / (q[1] - p[1]);
                x0 = x0.min(x);
                x1 = x1.max(x);
            }
        }
        if x0 > x1 {
            continue;
        }
        // Columns j with j + 0.5 in [x0, x1].
        let lo = (x0 - 0.5).ceil().max(0.0);
        let hi = (x1 - 0.5).floor().min(SIZE as f64 - 1.0);
        if lo > hi {
            continue;
        }
        let (lo, hi) = (lo as u32, hi as u32);
        let bits = ((1u64 << (hi + 1)) - 1) & !((1u64 << lo) - 1);
        *row = bits as u32;
    }
    mask
}

/// A grey image (`side` columns, values in [0, 1]) as text, one character
/// per pixel from dark ` ` to light `@`, one line per row.
///
/// ```
/// let text = depthlab::dataset::shapeset::ascii(&[0.0, 1.0, 0.5, 0.0], 2);
/// assert_eq!(text, " @\n+ \n");
/// ```
pub fn ascii(pixels: &[f32], side: usize) -> String {
    const RAMP: &[u8] = b" .:-=+*#%@";
    let mut s = String::with_capacity(pixels.len() + pixels.len() / side.max(1));
    for row in pixels.chunks(side.max(1)) {
        for &v in row {
            let k = (v.clamp(0.0, 1.0) * (RAMP.len() - 1) as f32).round() as usize;
            s.push(RAMP[k] as char);
        }
        s.push('\n');
    }
    s
}
