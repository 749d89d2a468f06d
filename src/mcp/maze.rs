//! `mew mcp cat-maze`: guide a cat through hand-made maze levels with the tools `view`, `up`,
//! `down`, `left`, `right` and `reset`. Everything is deterministic, so a player (or a test)
//! can plan moves from the rendered map.
use serde_json::{json, Value};

use mew_client::mcp::{tool, RpcError, ToolResult, ToolServer};

/// Levels: `#` wall, `C` the cat's start, `G` the goal, `.` floor. Rows are equally long.
const LEVELS: &[&[&str]] = &[
    &[
        "#######", //
        "#C...G#", //
        "#######",
    ],
    &[
        "#######", //
        "#C#...#", //
        "#.#.#.#", //
        "#...#G#", //
        "#######",
    ],
    &[
        "#########", //
        "#C..#...#", //
        "###.#.#.#", //
        "#...#.#.#", //
        "#.###.#.#", //
        "#.....#G#", //
        "#########",
    ],
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Up,
    Down,
    Left,
    Right,
}

impl Dir {
    fn delta(self) -> (isize, isize) {
        match self {
            Dir::Up => (-1, 0),
            Dir::Down => (1, 0),
            Dir::Left => (0, -1),
            Dir::Right => (0, 1),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Dir::Up => "up",
            Dir::Down => "down",
            Dir::Left => "left",
            Dir::Right => "right",
        }
    }
}

/// What one move did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Moved {
    Stepped,
    Bumped,
    /// Reached the goal; the next level has started.
    NextLevel,
    /// Reached the goal of the last level.
    Won,
    /// The game was already won; nothing moves until `reset`.
    AlreadyWon,
}

/// The game state.
#[derive(Debug, Clone)]
pub(crate) struct Maze {
    level: usize,
    cat: (usize, usize),
    moves: u32,
    won: bool,
}

impl Default for Maze {
    fn default() -> Self {
        Maze::new()
    }
}

impl Maze {
    pub(crate) fn new() -> Maze {
        Maze::at_level(0)
    }

    fn at_level(level: usize) -> Maze {
        Maze {
            level,
            cat: find(LEVELS[level], 'C'),
            moves: 0,
            won: false,
        }
    }

    pub(crate) fn level(&self) -> usize {
        self.level
    }

    #[cfg(test)]
    pub(crate) fn cat(&self) -> (usize, usize) {
        self.cat
    }

    pub(crate) fn step(&mut self, dir: Dir) -> Moved {
        if self.won {
            return Moved::AlreadyWon;
        }
        let grid = LEVELS[self.level];
        let (dr, dc) = dir.delta();
        let (r, c) = (
            self.cat.0.wrapping_add_signed(dr),
            self.cat.1.wrapping_add_signed(dc),
        );
        match cell(grid, r, c) {
            None | Some('#') => Moved::Bumped,
            Some(ch) => {
                self.cat = (r, c);
                self.moves += 1;
                if ch != 'G' {
                    Moved::Stepped
                } else if self.level + 1 < LEVELS.len() {
                    *self = Maze::at_level(self.level + 1);
                    Moved::NextLevel
                } else {
                    self.won = true;
                    Moved::Won
                }
            }
        }
    }

    /// Restart the current level, or the whole game once it is won.
    pub(crate) fn reset(&mut self) {
        *self = Maze::at_level(if self.won { 0 } else { self.level });
    }

    /// The map with the cat where it is now, plus a header and a legend.
    pub(crate) fn render(&self) -> String {
        let grid = LEVELS[self.level];
        let mut out = format!(
            "Level {}/{} — moves: {}\n",
            self.level + 1,
            LEVELS.len(),
            self.moves
        );
        for (r, row) in grid.iter().enumerate() {
            for (c, ch) in row.chars().enumerate() {
                out.push(match ch {
                    _ if (r, c) == self.cat => 'C',
                    'C' => '.',
                    other => other,
                });
            }
            out.push('\n');
        }
        out.push_str("Legend: C cat, G goal, # wall, . floor. Move with up, down, left, right.");
        if self.won {
            out.push_str("\nAll levels done! Call reset to play again.");
        }
        out
    }
}

fn cell(grid: &[&str], r: usize, c: usize) -> Option<char> {
    grid.get(r).and_then(|row| row.chars().nth(c))
}

fn find(grid: &[&str], ch: char) -> (usize, usize) {
    for (r, row) in grid.iter().enumerate() {
        if let Some(c) = row.chars().position(|x| x == ch) {
            return (r, c);
        }
    }
    (0, 0)
}

/// The MCP face of the game.
#[derive(Debug, Default)]
pub(crate) struct CatMaze {
    maze: Maze,
}

impl ToolServer for CatMaze {
    fn name(&self) -> &str {
        "mew-cat-maze"
    }

    fn tools(&self) -> Vec<Value> {
        let mv = |d: &str| {
            tool(
                d,
                &format!(
                    "Move the cat one cell {d}. Walls stop it; reaching G starts the next level."
                ),
                json!({}),
                &[],
            )
        };
        vec![
            tool(
                "view",
                "Show the current level: walls (#), the cat (C), the goal (G), floor (.).",
                json!({}),
                &[],
            ),
            mv("up"),
            mv("down"),
            mv("left"),
            mv("right"),
            tool(
                "reset",
                "Restart the current level (or the whole game once it is won).",
                json!({}),
                &[],
            ),
        ]
    }

    fn call(&mut self, name: &str, _args: &Value) -> Result<ToolResult, RpcError> {
        let dir = match name {
            "view" => return Ok(ToolResult::ok(self.maze.render())),
            "reset" => {
                self.maze.reset();
                return Ok(ToolResult::ok(format!(
                    "Level restarted.\n{}",
                    self.maze.render()
                )));
            }
            "up" => Dir::Up,
            "down" => Dir::Down,
            "left" => Dir::Left,
            "right" => Dir::Right,
            other => return Err(RpcError::invalid_params(format!("Unknown tool: {other}"))),
        };
        let done = self.maze.level();
        let said = match self.maze.step(dir) {
            Moved::Stepped => format!("The cat moved {}.", dir.name()),
            Moved::Bumped => format!("The cat bumped into a wall going {}.", dir.name()),
            Moved::NextLevel => format!(
                "The cat reached the goal! Level {} complete; now on level {}.",
                done + 1,
                done + 2
            ),
            Moved::Won => format!(
                "The cat reached the goal! Level {} complete: you finished all levels!",
                done + 1
            ),
            Moved::AlreadyWon => "All levels are done; call reset to play again.".to_string(),
        };
        Ok(ToolResult::ok(format!("{said}\n{}", self.maze.render())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shortest path per level (checked against the maps by playing it).
    const SOLUTIONS: &[&str] = &["rrrr", "ddrruurrdd", "rrddllddrrrruuuurrdddd"];

    fn dir(ch: char) -> Dir {
        match ch {
            'u' => Dir::Up,
            'd' => Dir::Down,
            'l' => Dir::Left,
            _ => Dir::Right,
        }
    }

    #[test]
    fn levels_are_well_formed() {
        for level in LEVELS {
            let width = level[0].len();
            assert!(level.iter().all(|r| r.len() == width));
            let count = |ch| level.iter().map(|r| r.matches(ch).count()).sum::<usize>();
            assert_eq!(count('C'), 1);
            assert_eq!(count('G'), 1);
        }
        assert_eq!(SOLUTIONS.len(), LEVELS.len());
    }

    #[test]
    fn walls_stop_the_cat() {
        let mut m = Maze::new();
        let start = m.cat();
        assert_eq!(m.step(Dir::Up), Moved::Bumped);
        assert_eq!(m.step(Dir::Left), Moved::Bumped);
        assert_eq!(m.cat(), start);
        assert_eq!(m.step(Dir::Right), Moved::Stepped);
        assert_eq!(m.cat(), (start.0, start.1 + 1));
        assert!(m.render().contains("#.C..G#"), "{}", m.render());
    }

    #[test]
    fn playing_the_solutions_wins_the_game() {
        let mut m = Maze::new();
        for (level, path) in SOLUTIONS.iter().enumerate() {
            assert_eq!(m.level(), level);
            let moves: Vec<Moved> = path.chars().map(|c| m.step(dir(c))).collect();
            let (last, before) = moves.split_last().unwrap();
            assert!(before.iter().all(|x| *x == Moved::Stepped), "{moves:?}");
            let expect = if level + 1 == LEVELS.len() {
                Moved::Won
            } else {
                Moved::NextLevel
            };
            assert_eq!(*last, expect, "level {level}");
        }
        assert_eq!(m.step(Dir::Left), Moved::AlreadyWon);
        assert!(m.render().contains("All levels done"));
        m.reset();
        assert_eq!((m.level(), m.cat()), (0, (1, 1)));
    }

    #[test]
    fn tools_report_moves_and_levels() {
        let mut s = CatMaze::default();
        let names: Vec<String> = s
            .tools()
            .iter()
            .filter_map(|t| t["name"].as_str().map(String::from))
            .collect();
        assert_eq!(names, ["view", "up", "down", "left", "right", "reset"]);
        let r = s.call("up", &json!({})).unwrap();
        assert!(!r.is_error && r.text.contains("bumped"), "{}", r.text);
        for _ in 0..3 {
            s.call("right", &json!({})).unwrap();
        }
        let r = s.call("right", &json!({})).unwrap();
        assert!(r.text.contains("now on level 2"), "{}", r.text);
        assert!(r.text.contains("Level 2/3"), "{}", r.text);
        s.call("down", &json!({})).unwrap();
        let r = s.call("reset", &json!({})).unwrap();
        assert!(r.text.contains("Level 2/3 — moves: 0"), "{}", r.text);
        assert!(s.call("jump", &json!({})).is_err());
    }
}
