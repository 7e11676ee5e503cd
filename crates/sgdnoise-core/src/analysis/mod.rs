//! The numbers behind the claims, from collected runs: power-law fits with bootstrap intervals
//! over seeds, crossover temperatures and optimal temperatures. Plain numerics: it knows no
//! stage, store or figure.

pub mod crossover;
pub mod observable;
pub mod optimum;
pub mod panel;
pub mod powerlaw;
pub mod table;
pub mod window;
