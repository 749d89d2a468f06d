//! `mew mcp cat-maze`: guide a cat through upstream's ten maze levels with the tools `view`, `up`,
//! `down`, `left`, `right`, `restart` (the whole adventure from level 1, as upstream's server) and
//! `reset` (only the current level). Everything is deterministic, so a player (or a test) can plan
//! moves from the rendered map. Finishing the last level counts a run and starts level 1 again.
use serde_json::{json, Value};

use mew_client::mcp::{tool, RpcError, ToolResult, ToolServer};

/// One level: `#` wall, `C` the cat's start, `G` the goal, `.` floor. Rows are equally long.
pub(crate) struct Level {
    pub(crate) name: &'static str,
    hint: &'static str,
    rows: &'static [&'static str],
}

/// The layouts of upstream's cat-maze levels, in its order.
pub(crate) const LEVELS: &[Level] = &[
    Level {
        name: "Kitten Steps",
        hint: "A short corridor with one bend: head right, then find the way down.",
        rows: &["#######", "#C..#.#", "###.#.#", "#....G#", "#######"],
    },
    Level {
        name: "Alley Twist",
        hint: "The left column is the only way down; the long alley above is a dead end.",
        rows: &[
            "#########",
            "#C#.....#",
            "#.#.#####",
            "#.#.....#",
            "#.#####.#",
            "#......G#",
            "#########",
        ],
    },
    Level {
        name: "Branching Paths",
        hint: "Several side passages go nowhere; the goal sits in the bottom-right corner.",
        rows: &[
            "###########",
            "#C#.......#",
            "#.#####.#.#",
            "#.....#.#.#",
            "#####.###.#",
            "#...#...#.#",
            "#.#.###.#.#",
            "#.#......G#",
            "###########",
        ],
    },
    Level {
        name: "Crossroads",
        hint: "Go all the way down first, then weave up and back between the pillars.",
        rows: &[
            "###########",
            "#C#.......#",
            "#.#.#.###.#",
            "#.#.#...#.#",
            "#.#.###.#.#",
            "#.#.#.#.#.#",
            "#.#.#.#.#.#",
            "#.#...#.#.#",
            "#.#####.#.#",
            "#.......#G#",
            "###########",
        ],
    },
    Level {
        name: "Garden Loops",
        hint: "The outer edges end in dead ends; work your way inward and then down.",
        rows: &[
            "#############",
            "#C..#.......#",
            "###.###.###.#",
            "#.#...#...#.#",
            "#.###.#.###.#",
            "#...#.#.#...#",
            "#.###.#.#.###",
            "#.#...#.#...#",
            "#.#.#######.#",
            "#..........G#",
            "#############",
        ],
    },
    Level {
        name: "Corridor Crunch",
        hint: "Long vertical halls: up and down through the columns, then the narrow squeeze.",
        rows: &[
            "#############",
            "#C#...#...#.#",
            "#.#.#.#.#.#.#",
            "#.#.#.#.#.#.#",
            "#.#.#.#.#.#.#",
            "#...#...#.#.#",
            "#########.#.#",
            "#...#...#...#",
            "#.#.###.###.#",
            "#.#.....#...#",
            "#.#######.###",
            "#..........G#",
            "#############",
        ],
    },
    Level {
        name: "Switchbacks",
        hint: "Climb back and forth; each switchback brings the exit a little closer.",
        rows: &[
            "###############",
            "#C#.......#...#",
            "#.###.#####.#.#",
            "#...#.#.....#.#",
            "###.#.#.#####.#",
            "#.#.#.....#...#",
            "#.#.#######.###",
            "#...#.....#...#",
            "#.###.###.###.#",
            "#...#.#...#...#",
            "###.#.#.###.#.#",
            "#.....#.....#G#",
            "###############",
        ],
    },
    Level {
        name: "Courtyard Crawl",
        hint: "The open centre is a trap; circle around it and come down the left side.",
        rows: &[
            "###############",
            "#C#...........#",
            "#.#######.###.#",
            "#.......#...#.#",
            "#######.###.#.#",
            "#.....#...#.#.#",
            "#.#.#####.#.#.#",
            "#.#.....#...#.#",
            "#.###.#######.#",
            "#.#.#.#.....#.#",
            "#.#.#.#.#.###.#",
            "#.#.#.#.#.....#",
            "#.#.#.#.#######",
            "#...#........G#",
            "###############",
        ],
    },
    Level {
        name: "Keep of Knots",
        hint: "Two chambers joined by one thin, winding hallway along the top.",
        rows: &[
            "#################",
            "#C..........#...#",
            "###########.###.#",
            "#.....#.#...#...#",
            "#.###.#.#.###.#.#",
            "#...#...#.#...#.#",
            "#.#.###.#.#.###.#",
            "#.#.#.#.#...#.#.#",
            "#.#.#.#.#####.#.#",
            "#.#.#.....#.....#",
            "#.#.#.#####.#####",
            "#.#.#.#...#.#...#",
            "#.#.###.#.#.#.#.#",
            "#.#.....#.....#G#",
            "#################",
        ],
    },
    Level {
        name: "Nine Lives Finale",
        hint: "A long zig-zag: small corrections, and do not give up on the far right column.",
        rows: &[
            "#################",
            "#C#...........#.#",
            "#.#########.#.#.#",
            "#.....#.....#...#",
            "#####.#.#######.#",
            "#.#...#.#.....#.#",
            "#.#.###.#.###.#.#",
            "#...#...#...#.#.#",
            "#.###.#.#####.#.#",
            "#.#...#.#...#...#",
            "#.###.#.#.#.#.###",
            "#...#.#...#.#.#.#",
            "###.#####.#.#.#.#",
            "#.#.#...#.#.#.#.#",
            "#.#.#.#.###.#.#.#",
            "#.....#.....#..G#",
            "#################",
        ],
    },
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
    /// Reached the goal of the last level: a run is complete and level 1 starts again.
    RunComplete,
}

/// The game state.
#[derive(Debug, Clone)]
pub(crate) struct Maze {
    level: usize,
    cat: (usize, usize),
    moves: u32,
    total_moves: u32,
    runs: u32,
}

impl Default for Maze {
    fn default() -> Self {
        Maze::new()
    }
}

impl Maze {
    pub(crate) fn new() -> Maze {
        Maze {
            level: 0,
            cat: find(LEVELS[0].rows, 'C'),
            moves: 0,
            total_moves: 0,
            runs: 0,
        }
    }

    /// Put the cat at the start of `level` with a fresh move count for it.
    fn enter(&mut self, level: usize) {
        self.level = level;
        self.cat = find(LEVELS[level].rows, 'C');
        self.moves = 0;
    }

    pub(crate) fn level(&self) -> usize {
        self.level
    }

    #[cfg(test)]
    pub(crate) fn cat(&self) -> (usize, usize) {
        self.cat
    }

    pub(crate) fn step(&mut self, dir: Dir) -> Moved {
        let grid = LEVELS[self.level].rows;
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
                self.total_moves += 1;
                if ch != 'G' {
                    Moved::Stepped
                } else if self.level + 1 < LEVELS.len() {
                    self.enter(self.level + 1);
                    Moved::NextLevel
                } else {
                    self.runs += 1;
                    self.enter(0);
                    Moved::RunComplete
                }
            }
        }
    }

    /// Start the current level again (the moves made in it still count in the total).
    pub(crate) fn reset(&mut self) {
        self.enter(self.level);
    }

    /// The whole adventure again from level 1, with fresh move counters (runs stay counted).
    pub(crate) fn restart(&mut self) {
        self.enter(0);
        self.total_moves = 0;
    }

    /// The map with the cat where it is now, plus a header, the counters, a legend and a hint.
    pub(crate) fn render(&self) -> String {
        let level = &LEVELS[self.level];
        let mut out = format!(
            "Level {}/{}: {}\n",
            self.level + 1,
            LEVELS.len(),
            level.name
        );
        for (r, row) in level.rows.iter().enumerate() {
            for (c, ch) in row.chars().enumerate() {
                out.push(match ch {
                    _ if (r, c) == self.cat => 'C',
                    'C' => '.',
                    other => other,
                });
            }
            out.push('\n');
        }
        out.push_str(&format!(
            "Moves this level: {} | total moves: {} | runs completed: {}\n",
            self.moves, self.total_moves, self.runs
        ));
        out.push_str("Legend: C cat, G goal, # wall, . floor. Move with up, down, left, right.\n");
        out.push_str(&format!("Hint: {}", level.hint));
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
                "Show the current level: walls (#), the cat (C), the goal (G), floor (.), the move \
                 counters and a hint.",
                json!({}),
                &[],
            ),
            mv("up"),
            mv("down"),
            mv("left"),
            mv("right"),
            tool(
                "restart",
                "Start the whole adventure again from level 1 with fresh move counters.",
                json!({}),
                &[],
            ),
            tool(
                "reset",
                "Start the current level again from its beginning.",
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
                    "Level {} restarted.\n{}",
                    self.maze.level() + 1,
                    self.maze.render()
                )));
            }
            "restart" => {
                self.maze.restart();
                return Ok(ToolResult::ok(format!(
                    "The adventure starts again at level 1.\n{}",
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
            Moved::RunComplete => format!(
                "The cat reached the goal! Level {} complete: all {} levels done, so a new run \
                 starts at level 1.",
                done + 1,
                LEVELS.len()
            ),
        };
        Ok(ToolResult::ok(format!("{said}\n{}", self.maze.render())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shortest path per level (found by a breadth-first search over the maps).
    const SOLUTIONS: &[&str] = &[
        "rrddrr",
        "ddddrrrrrr",
        "ddrrrrddrrddrr",
        "ddddddddrrrrrruuuuuulluurrrrdddddddd",
        "rrddrrddddllddrrrrrrrr",
        "ddddrruuuurrddddrruuuurrddddddrrddllddrr",
        "ddrrddddllddrrddrruuuurrrrddllddrrrruurrdd",
        "ddrrrrrrddrrddrruuuulluurrrrddddddddddlllluullddddrrrrrr",
        "rrrrrrrrrrddllddddrruurruurrddddddllllddddrruurrdd",
        "ddrrrrddllddllddddrrddddrruurrddrrrruuuuuullddlluuuuuuuurrrruurrddrrddddddllddddddrr",
    ];

    fn dir(ch: char) -> Dir {
        match ch {
            'u' => Dir::Up,
            'd' => Dir::Down,
            'l' => Dir::Left,
            _ => Dir::Right,
        }
    }

    #[test]
    fn levels_are_upstreams_ten_and_well_formed() {
        assert_eq!(LEVELS.len(), 10);
        assert_eq!(LEVELS[0].name, "Kitten Steps");
        assert_eq!(LEVELS[9].name, "Nine Lives Finale");
        for level in LEVELS {
            let width = level.rows[0].len();
            assert!(
                level.rows.iter().all(|r| r.len() == width),
                "{}",
                level.name
            );
            let count = |ch| {
                level
                    .rows
                    .iter()
                    .map(|r| r.matches(ch).count())
                    .sum::<usize>()
            };
            assert_eq!(count('C'), 1, "{}", level.name);
            assert_eq!(count('G'), 1, "{}", level.name);
            // Closed: the border is wall all round.
            let last = level.rows.len() - 1;
            assert!(level.rows[0].chars().all(|c| c == '#'), "{}", level.name);
            assert!(level.rows[last].chars().all(|c| c == '#'), "{}", level.name);
            assert!(level
                .rows
                .iter()
                .all(|r| r.starts_with('#') && r.ends_with('#')));
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
        assert!(m.render().contains("#.C.#.#"), "{}", m.render());
    }

    #[test]
    fn playing_the_solutions_completes_a_run_and_starts_over() {
        let mut m = Maze::new();
        for (level, path) in SOLUTIONS.iter().enumerate() {
            assert_eq!(m.level(), level);
            let moves: Vec<Moved> = path.chars().map(|c| m.step(dir(c))).collect();
            let (last, before) = moves.split_last().unwrap();
            assert!(before.iter().all(|x| *x == Moved::Stepped), "{moves:?}");
            let expect = if level + 1 == LEVELS.len() {
                Moved::RunComplete
            } else {
                Moved::NextLevel
            };
            assert_eq!(*last, expect, "level {level}");
        }
        assert_eq!((m.level(), m.cat()), (0, (1, 1)));
        let total: usize = SOLUTIONS.iter().map(|s| s.len()).sum();
        assert!(
            m.render()
                .contains(&format!("total moves: {total} | runs completed: 1")),
            "{}",
            m.render()
        );
        m.restart();
        assert!(m.render().contains("total moves: 0 | runs completed: 1"));
    }

    #[test]
    fn tools_report_moves_and_levels_and_restart_differs_from_reset() {
        let mut s = CatMaze::default();
        let names: Vec<String> = s
            .tools()
            .iter()
            .filter_map(|t| t["name"].as_str().map(String::from))
            .collect();
        assert_eq!(
            names,
            ["view", "up", "down", "left", "right", "restart", "reset"]
        );
        let r = s.call("view", &json!({})).unwrap();
        assert!(
            r.text.starts_with("Level 1/10: Kitten Steps\n"),
            "{}",
            r.text
        );
        assert!(r.text.contains("Hint: "), "{}", r.text);
        let r = s.call("up", &json!({})).unwrap();
        assert!(!r.is_error && r.text.contains("bumped"), "{}", r.text);
        let mut last = String::new();
        for c in SOLUTIONS[0].chars() {
            last = s.call(dir(c).name(), &json!({})).unwrap().text;
        }
        assert!(last.contains("now on level 2"), "{last}");
        assert!(last.contains("Level 2/10: Alley Twist"), "{last}");
        s.call("down", &json!({})).unwrap();
        // reset: the same level from its start; the total keeps the moves made.
        let r = s.call("reset", &json!({})).unwrap();
        assert!(r.text.contains("Level 2/10"), "{}", r.text);
        assert!(
            r.text.contains("Moves this level: 0 | total moves: 7"),
            "{}",
            r.text
        );
        // restart: level 1 with fresh counters.
        s.call("down", &json!({})).unwrap();
        let r = s.call("restart", &json!({})).unwrap();
        assert!(r.text.contains("Level 1/10: Kitten Steps"), "{}", r.text);
        assert!(
            r.text.contains("Moves this level: 0 | total moves: 0"),
            "{}",
            r.text
        );
        assert!(r.text.contains("#C..#.#"), "{}", r.text);
        assert!(s.call("jump", &json!({})).is_err());
    }
}
